"""The edits a copy of a picture goes through on the web, used to measure and test the hash.

Each takes and returns an RGB PIL image; deterministic (no randomness). Qt-free, torch-free.
"""

from __future__ import annotations

import io
from typing import Callable

from PIL import Image, ImageEnhance, ImageOps


def flip(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def crop10(im: Image.Image) -> Image.Image:
    """10 % of each side cut away: 5 % left and top, 5 % right and bottom."""
    w, h = im.size
    dx, dy = round(w * 0.05), round(h * 0.05)
    return im.crop((dx, dy, w - dx, h - dy))


def resize_half(im: Image.Image) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.BICUBIC)


def jpeg30(im: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=30)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def brighter20(im: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(1.2)


def darker20(im: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(0.8)


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "flip": flip, "crop 10%": crop10, "resize 50%": resize_half, "jpeg q30": jpeg30,
    "brightness +20%": brighter20, "brightness -20%": darker20,
}
