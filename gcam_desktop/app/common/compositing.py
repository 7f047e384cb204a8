"""Pure-numpy helpers between the engine's maps and what the panels draw. No Qt, no torch.

Resizing and normalising maps are the engine's (gcam_desktop.explain.overlay: resize_map,
normalize_maps), so a panel shows exactly what `gcam-explain` writes.

The heavy work happens once per result (upsampling the map to the displayed image); colour
map, normalisation and opacity then change only how that array is drawn (LUT, levels, item
opacity), so none of them recomputes anything of size H x W on the UI thread per slider tick.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gcam_desktop.explain.overlay import normalize_maps, resize_map

DISPLAY_MAX_SIDE = 2048  # larger pictures are shown downscaled (memory, paint time)


def display_size(width: int, height: int, max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_display(img: Image.Image, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A PIL RGB picture as the HxWx3 uint8 array the views show."""
    size = display_size(*img.size, max_side=max_side)
    if size != img.size:
        img = img.resize(size, Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def normalise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Values on the scale lo..hi, clipped to [0, 1]: the engine's fixed normalisation."""
    return normalize_maps(values, "fixed", *safe_levels(lo, hi))


def safe_levels(lo: float, hi: float) -> tuple[float, float]:
    """Levels a LUT can use: an all-flat map still gets a non-empty range."""
    lo, hi = float(lo), float(hi)
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo, lo + 1e-12)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b of two maps already on one scale in [0, 1]; b resized to a's shape if needed."""
    if b.shape != a.shape:
        b = resize_map(b, a.shape)
    return (a - b).astype(np.float32)
