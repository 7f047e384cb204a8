"""Object masks in the encodings found in the wild, all marking the same box, and empty ones.

`write_mask(path, kind, size, box)` writes one; ENCODINGS names those that mark the box,
EMPTY those that mark nothing. Every builder is a few lines of Pillow / numpy on purpose: the
reader must take what other tools write, not what this program writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def _plane(size: tuple[int, int], box: Box, inside, outside=0, dtype=np.uint8, channels: int = 0) -> np.ndarray:
    w, h = size
    shape = (h, w, channels) if channels else (h, w)
    arr = np.full(shape, outside, dtype)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = inside
    return arr


def _white_on_black(size, box):  # the program's own convention: 255 = object
    return Image.fromarray(_plane(size, box, 255))


def _class_index(size, box):  # 0 = background, 1 = the object (segmentation label maps)
    return Image.fromarray(_plane(size, box, 1))


def _red_on_black(size, box):  # a colour-coded label, pure red, on black
    return Image.fromarray(_plane(size, box, (255, 0, 0), channels=3))


def _palette_index_1(size, box):  # PASCAL VOC style: palette index 1 (dark red) on index 0 (black)
    im = Image.fromarray(_plane(size, box, 1), "L").convert("P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [0, 0, 0] * 254)
    return im


def _sixteen_bit(size, box):  # 16-bit label map, 0 / 1
    return Image.fromarray(_plane(size, box, 1, dtype=np.uint16))


def _alpha_only(size, box):  # black everywhere, the shape only in the alpha channel
    arr = _plane(size, box, (0, 0, 0, 255), outside=(0, 0, 0, 0), channels=4)
    return Image.fromarray(arr, "RGBA")


def _bilevel(size, box):  # mode "1"
    return Image.fromarray(_plane(size, box, 255)).convert("1")


def _opaque_rgba(size, box):  # white on black with an alpha channel that is opaque everywhere
    return Image.fromarray(_plane(size, box, (255, 255, 255, 255), outside=(0, 0, 0, 255), channels=4), "RGBA")


def _all_black(size, box):
    return Image.new("L", size, 0)


def _all_zero_palette(size, box):  # palette image with every pixel at index 0 (black)
    im = Image.new("P", size, 0)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0, 0, 0] * 254)
    return im


ENCODINGS: dict[str, Callable] = {
    "white_on_black": _white_on_black, "class_index_0_1": _class_index, "red_on_black": _red_on_black,
    "palette_index_1": _palette_index_1, "sixteen_bit_0_1": _sixteen_bit, "alpha_only": _alpha_only,
    "bilevel": _bilevel, "opaque_rgba": _opaque_rgba,
}
EMPTY: dict[str, Callable] = {"all_black": _all_black, "all_zero_palette": _all_zero_palette}


def write_mask(path: Path, kind: str, size: tuple[int, int] = (40, 40), box: Box = (8, 12, 24, 28)) -> Path:
    """A PNG mask of `kind` (a key of ENCODINGS or EMPTY) at `size` marking `box`."""
    build = ENCODINGS.get(kind) or EMPTY[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    build(size, box).save(path, "PNG")
    return path


def box_pixels(size: tuple[int, int] = (40, 40), box: Box = (8, 12, 24, 28)) -> np.ndarray:
    """The H x W bool the masks above should read as."""
    return _plane(size, box, True, outside=False, dtype=bool)
