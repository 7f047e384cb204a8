"""Object masks: which pixels of an image are the object, at the size they are scored at.

The rule (also in gcam-evaluate --help and the README): a pixel is object where the mask is
not 0 in some colour channel, read as stored: 255-on-0, 0/1 class-index PNGs, any colour on
black, palette images by their palette colours, 16-bit and float masks by value. A mask with
an alpha channel that varies (a shape on a transparent background) is object where alpha > 0.
JPEG masks are the exception: lossy compression leaves the black near 0 but not at it, so they
are object at half brightness or more. A mask with no object pixel is not used (said per file):
it cannot be pointed at, and counting it as "with a mask" would promise values it cannot give.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gcam_desktop.imaging import MAX_PIXELS, ImageLoadError, image_size

MAX_MASK_SIDE = 512  # masks of huge photos are scored at this size (tolerance scales along)
# The rule in a few words, for --help and messages.
RULE = ("object = every pixel that is not 0 in some colour channel (palette colours, 16-bit values), "
        "or alpha > 0 where the alpha channel varies; JPEG masks: half brightness or more")


class MaskError(Exception):
    """A mask that cannot be used with its image; str() names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


def mask_size_for(image_size: tuple[int, int]) -> tuple[int, int]:
    """The size every mask of an image of this size is scored at: the image's own size, at
    most MAX_MASK_SIDE on the longer side. The same for any resolution the mask comes in,
    so the scores do not depend on it."""
    w, h = image_size
    scale = min(1.0, MAX_MASK_SIDE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_mask(path: Path, image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """H x W bool (object per the module's rule) at mask_size_for(image_size) (the mask's own
    size without one). Raises MaskError when the mask has no object pixel, or when its aspect
    ratio is not the image's: stretching it would mark the wrong pixels as the object."""
    return read_mask(path, image_size)[0]


def read_mask(path: Path, image_size: tuple[int, int] | None = None) -> tuple[torch.Tensor, str | None]:
    """load_mask's mask and a note for the user when it had to be rescaled (else None)."""
    obj = object_pixels(_decode(Path(path)))
    size = (obj.shape[1], obj.shape[0])
    if not obj.any():
        raise MaskError(path, "mask is empty (no object pixel: nothing but 0); scored without it")
    note = None if image_size is None else mask_note(Path(path), size, image_size)
    target = mask_size_for(image_size or size)
    if image_size is not None and not same_aspect(size, image_size):
        raise MaskError(path, f"mask is {size[0]}x{size[1]} but its image is {image_size[0]}x"
                              f"{image_size[1]}: another aspect ratio, so it cannot mark the same pixels; not used")
    if size == target:
        return torch.from_numpy(obj), note
    # Antialiased, then thresholded: a mask at half or double the resolution marks the
    # same pixels as one at the image's size.
    small = np.asarray(Image.fromarray(obj.astype(np.uint8) * 255).resize(target, Image.BILINEAR)) >= 128
    if not small.any():
        raise MaskError(path, f"the object is too small to remain when the mask is scaled to "
                              f"{target[0]}x{target[1]}; scored without it")
    return torch.from_numpy(small), note


def _decode(path: Path) -> Image.Image:
    """The mask as stored (mode, palette and alpha kept: imaging.load_image would make it RGB,
    compositing alpha on white), upright per its EXIF orientation, first frame."""
    w, h = image_size(path)  # ImageLoadError for what is not an image, before any decoding
    if w * h > MAX_PIXELS:
        raise ImageLoadError(path, f"{w}x{h} pixels, more than a mask is read at ({MAX_PIXELS:,})")
    try:
        with Image.open(path) as im:
            im.seek(0)
            im.load()
            fmt = im.format
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:
                pass  # damaged EXIF: keep the pixels as stored
            im = im.copy()
    except (OSError, ValueError, EOFError, SyntaxError) as exc:  # truncated or corrupt pixel data
        raise ImageLoadError(path, f"truncated or corrupt image data ({exc or type(exc).__name__})") from exc
    im.format = fmt
    return im


def object_pixels(im: Image.Image) -> np.ndarray:
    """H x W bool: the object pixels of a mask image, per the module's rule."""
    if im.format == "JPEG":
        return np.asarray(im.convert("L")) >= 128
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")  # palette expansion (a transparent index becomes alpha 0)
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")  # their zero is not black
    arr = np.asarray(im)
    if arr.ndim == 2:  # 1, L, I, I;16, F
        return arr != 0
    bands = im.getbands()
    if "A" in bands or "a" in bands:
        alpha = arr[..., -1]
        if alpha.min() != alpha.max():  # the shape is in the alpha channel
            return alpha > 0
        arr = arr[..., :-1]
    return (arr != 0).any(axis=-1)


def same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Equal width / height ratios, up to the rounding of a rescaled picture (one pixel)."""
    expected_h = a[0] * b[1] / b[0]
    return abs(expected_h - a[1]) <= max(1.0, 0.01 * a[1])


def mask_note(path: Path, mask_size: tuple[int, int], image_size: tuple[int, int]) -> str | None:
    """What a user should know about a usable mask: that it was rescaled, and from what."""
    if tuple(mask_size) == tuple(image_size):
        return None
    return (f"mask {path.name} is {mask_size[0]}x{mask_size[1]}, its image {image_size[0]}x{image_size[1]}: "
            f"same aspect ratio, scaled to the image")
