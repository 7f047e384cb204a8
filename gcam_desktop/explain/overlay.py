"""Colour maps and overlays: numpy and PIL only (no torch, no Qt), cheap enough for a slider.

The colour tables come from the `cmap` package (matplotlib's, Google's and ColorBrewer's maps,
Qt-free). The work is split so an opacity slider never redoes the expensive part:

    colored = colorize(map01, "turbo", size=image.shape[:2])   # once per map / colour map
    shown = blend(image, colored, alpha)                        # on every slider move

`overlay()` does both in one call. Maps are expected in [0, 1] (see `normalize_maps` for the
per-map, shared and fixed scales); `vmin` / `vmax` rescale any other range.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Sequence, Union

import numpy as np
from PIL import Image

# Display name -> fully namespaced name in `cmap` (the short names are ambiguous there).
_SOURCES = {
    "turbo": "google:turbo",
    "jet": "matlab:jet",
    "viridis": "bids:viridis",
    "inferno": "bids:inferno",
    "magma": "bids:magma",
    "plasma": "bids:plasma",
    "cividis": "cividis:cividis",
    "gray": "matlab:gray",
    "coolwarm": "matplotlib:coolwarm",
    "RdBu_r": "colorbrewer:RdBu_r",
}
COLORMAPS: tuple[str, ...] = tuple(_SOURCES)
# Diverging maps: white / grey in the middle, for signed maps shown on a symmetric range; low
# blue, high red. In order of preference: the app's difference panel takes the first it has.
# RdBu_r first, as the app always took it: ColorBrewer's, its ends darker than coolwarm's, so a
# large difference stands out more from a small one.
DIVERGING: tuple[str, ...] = ("RdBu_r", "coolwarm")
NORMALIZATION_MODES = ("per_map", "shared", "fixed")

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]


@lru_cache(maxsize=None)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 table of a colour map (read-only; cached)."""
    if name not in _SOURCES:
        raise ValueError(f"unknown colour map {name!r}; valid colour maps: {', '.join(COLORMAPS)}")
    import cmap  # imported on first use: the app's start-up does not pay for it

    rgba = np.asarray(cmap.Colormap(_SOURCES[name]).lut(256), dtype=np.float64)
    lut = np.ascontiguousarray(np.clip(np.rint(rgba[:, :3] * 255), 0, 255).astype(np.uint8))
    lut.setflags(write=False)
    return lut


def _check_range(vmin: float, vmax: float) -> tuple[float, float]:
    lo, hi = float(vmin), float(vmax)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"vmax must be greater than vmin, not vmin={vmin}, vmax={vmax}")
    return lo, hi


def _index_image(map_float: np.ndarray, vmin: float, vmax: float,
                 size: tuple[int, int] | None) -> Image.Image:
    """The map as an 8-bit image of colour-table indices, resized first if asked.

    Resizing, scaling, rounding and clipping run inside PIL (C, one pass each): about four
    times faster than numpy for a megapixel. NaN counts as vmin.
    """
    lo, hi = _check_range(vmin, vmax)
    m = np.asarray(map_float, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-d (H x W), not of shape {m.shape}")
    m = np.ascontiguousarray(np.nan_to_num(m, nan=lo, posinf=hi, neginf=lo))
    im = Image.fromarray(m)  # mode "F"
    if size is not None and (int(size[0]), int(size[1])) != m.shape:
        im = im.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    scale = 255.0 / (hi - lo)
    offset = 0.5 - lo * scale  # + 0.5: the conversion to "L" truncates; this rounds
    return im.point(lambda v: v * scale + offset).convert("L")  # "L" clips to 0..255


def apply_colormap(map01: np.ndarray, name: str = "turbo", vmin: float = 0.0,
                   vmax: float = 1.0) -> np.ndarray:
    """... x H x W float map in [vmin, vmax] -> ... x H x W x 3 uint8 colours (values
    outside the range clip; NaN takes the colour of vmin)."""
    lut = colormap_lut(name)
    m = np.asarray(map01, dtype=np.float32)
    if m.ndim == 2:
        return _paint(_index_image(m, vmin, vmax, None), lut)
    lo, hi = _check_range(vmin, vmax)
    scaled = (np.nan_to_num(m, nan=lo, posinf=hi, neginf=lo) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    idx = np.clip(scaled + np.float32(0.5), 0, 255).astype(np.uint8)
    return np.take(lut, idx, axis=0)


def _paint(index: Image.Image, lut: np.ndarray) -> np.ndarray:
    index.putpalette(lut.tobytes())  # an "L" image becomes a "P" image with this palette
    return np.array(index.convert("RGB"))  # a writable copy


def resize_map(map_float: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H x W float map resized bilinearly to size = (height, width) (float32)."""
    m = np.asarray(map_float, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-d (H x W), not of shape {m.shape}")
    h, w = int(size[0]), int(size[1])
    if m.shape == (h, w):
        return m
    return np.asarray(Image.fromarray(np.ascontiguousarray(m)).resize((w, h), Image.BILINEAR),
                      dtype=np.float32)


def colorize(map_float: np.ndarray, cmap: str = "turbo", vmin: float = 0.0, vmax: float = 1.0,
             size: tuple[int, int] | None = None) -> np.ndarray:
    """The map resized to size = (height, width) and coloured -> H x W x 3 uint8.

    The scalar map is interpolated, then coloured, so no colour appears that is not in the
    colour map. Cache the result: `blend` with it is all an opacity change needs.
    """
    lut = colormap_lut(cmap)
    return _paint(_index_image(map_float, vmin, vmax, size), lut)


def as_rgb_uint8(image) -> np.ndarray:
    """H x W x 3 uint8 from a PIL image or an array (grey H x W, RGB or RGBA)."""
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"the image must be uint8, not {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"the image must be H x W x 3 (RGB), not of shape {arr.shape}")
    return arr[:, :, :3]


def blend(image_rgb_uint8: np.ndarray, colored: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) * image + alpha * colored, in 8.8 fixed point (uint16 arithmetic: a few
    milliseconds for a megapixel, so it can run on every slider move)."""
    image = as_rgb_uint8(image_rgb_uint8)
    if colored.shape != image.shape:
        raise ValueError(f"colored map of shape {colored.shape} does not match the image {image.shape}; "
                         f"colorize it with size=image.shape[:2]")
    a = int(round(min(max(float(alpha), 0.0), 1.0) * 256))
    if a == 0:
        return image.copy()
    if a == 256:
        return np.array(colored, dtype=np.uint8, copy=True)
    out = image.astype(np.uint16) * np.uint16(256 - a)
    out += colored.astype(np.uint16) * np.uint16(a)
    out += np.uint16(128)  # round to nearest
    out >>= 8
    return out.astype(np.uint8)


def overlay(image_rgb_uint8, map_float: np.ndarray, alpha: float = 0.5, cmap: str = "turbo",
            vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """The map, resized to the image and coloured, blended over it -> H x W x 3 uint8."""
    image = as_rgb_uint8(image_rgb_uint8)
    return blend(image, colorize(map_float, cmap, vmin, vmax, size=image.shape[:2]), alpha)


def normalize_maps(maps: ArrayOrList, mode: str = "per_map", vmin: float | None = None,
                   vmax: float | None = None, symmetric: bool = False) -> ArrayOrList:
    """Scale maps to [0, 1].

    maps: one array (... x H x W: every trailing H x W is a map) or a list of arrays (maps of
        several models, sizes may differ); the result has the same form, float32.
    mode: "per_map" (each map's own min-max), "shared" (one min-max over all maps, so
        magnitudes compare across models) or "fixed" (vmin..vmax, clipped).
    symmetric: for signed maps and a diverging colour map: the range becomes -a..a with
        a = max |value| (per map or shared), so 0 lands in the colour map's middle.
    A map without range becomes all zeros (all 0.5 when symmetric).
    """
    if mode not in NORMALIZATION_MODES:
        raise ValueError(f"unknown normalisation {mode!r}; valid: {', '.join(NORMALIZATION_MODES)}")
    single = isinstance(maps, np.ndarray)
    arrays = [np.asarray(maps, dtype=np.float32)] if single else [np.asarray(m, dtype=np.float32) for m in maps]
    if mode == "fixed":
        if vmin is None or vmax is None or not float(vmax) > float(vmin):
            raise ValueError(f"fixed normalisation needs vmin < vmax, not vmin={vmin}, vmax={vmax}")
        out = [_scale(a, np.float32(vmin), np.float32(vmax)) for a in arrays]
    elif mode == "shared":
        finite = [a[np.isfinite(a)] for a in arrays if a.size]
        values = np.concatenate(finite) if finite else np.zeros(0, np.float32)
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if symmetric:
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
        out = [_scale(a, np.float32(lo), np.float32(hi), symmetric) for a in arrays]
    else:
        out = [_per_map(a, symmetric) for a in arrays]
    return out[0] if single else out


def _scale(a: np.ndarray, lo, hi, symmetric: bool = False) -> np.ndarray:
    if not hi > lo:
        return np.full_like(a, 0.5 if symmetric else 0.0)
    out = (a - lo) / (hi - lo)
    np.nan_to_num(out, copy=False, nan=0.0)
    return np.clip(out, 0, 1, out=out)


def _per_map(a: np.ndarray, symmetric: bool) -> np.ndarray:
    if a.ndim < 2:
        raise ValueError(f"maps must be at least 2-d (H x W), not of shape {a.shape}")
    if a.size == 0:
        return a.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN map: handled below
        lo = np.nanmin(a, axis=(-2, -1), keepdims=True)
        hi = np.nanmax(a, axis=(-2, -1), keepdims=True)
    if symmetric:
        bound = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -bound, bound
    span = hi - lo
    ok = span > 0  # False for a constant or all-NaN map
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok, (a - lo) / np.where(ok, span, 1), 0.5 if symmetric else 0.0).astype(np.float32)
    np.nan_to_num(out, copy=False, nan=0.0)
    return np.clip(out, 0, 1, out=out)
