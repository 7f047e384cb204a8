"""Maps and pictures made small: each map to a fixed grid (what is clustered), each picture to a
small square (what mean images are made of). The run keeps only these, never a full-size map of
the folder (docs/adr/0031). Torch- and Qt-free (numpy and PIL)."""

from __future__ import annotations

import numpy as np
from PIL import Image

GRID = 16  # maps are clustered as GRID x GRID: 256 numbers, finer than any CAM layer of a 224 input
THUMB = 32  # side of the squashed picture a cluster's mean image is averaged from


def to_grid(raw: np.ndarray, side: int = GRID) -> np.ndarray:
    """A map of any size as side x side float32, min-max normalised to [0, 1] (a flat map: 0).
    Area-averaged when shrinking (no aliasing from a 224-pixel gradient map), bilinear when
    growing (a 7 x 7 CAM)."""
    from gcam_desktop.explain.overlay import normalize_maps

    m = np.nan_to_num(np.asarray(raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-d, not of shape {m.shape}")
    if m.shape != (side, side):
        shrink = m.shape[0] >= side and m.shape[1] >= side
        m = np.asarray(Image.fromarray(np.ascontiguousarray(m)).resize(
            (side, side), Image.BOX if shrink else Image.BILINEAR), np.float32)
    return normalize_maps(m, "per_map")


def square_thumb(picture: np.ndarray, side: int = THUMB) -> np.ndarray:
    """An RGB picture squashed to side x side uint8 (as the models see it: squashed, ADR 0002)."""
    img = Image.fromarray(np.asarray(picture, np.uint8)).convert("RGB")
    return np.asarray(img.resize((side, side), Image.BOX), np.uint8)
