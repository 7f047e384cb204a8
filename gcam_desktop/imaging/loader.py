"""The one image loader every path into the program uses: any file PIL reads, to RGB.

Qt-free and torch-free, so the app's file list can use it before torch has loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Tuple, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# The most pixels ever decoded at once (300 MB as RGB). A bigger JPEG is decoded reduced
# (libjpeg's DCT scaling: 1/2, 1/4, 1/8) so memory stays near this; other formats cannot be
# decoded reduced and are refused above it.
MAX_PIXELS = 100_000_000
# What a JPEG header may claim at all: real panoramas and camera files of several hundred
# megapixels open; beyond this, and for files far too small for the pixels they claim (a few
# kB saying 40000 x 40000), the file is refused before any decoding (decompression bomb).
MAX_CLAIMED_PIXELS = 1_000_000_000
# Even a one-colour JPEG needs ~0.01 byte per pixel (a few bits per 8 x 8 block and channel);
# a file under 1/2000 byte per claimed pixel cannot hold the image it claims.
MIN_BYTES_PER_PIXEL = 1 / 2000

# Truncated files must fail loudly, not load with a grey bottom half.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# PIL's own bomb limit would refuse a 200 MP camera JPEG that decodes reduced in little memory;
# _bomb_check below decides instead, from the header, before any decoding.
Image.MAX_IMAGE_PIXELS = None


class ImageLoadError(Exception):
    """An image that cannot be used; str() names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _composite_on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _scale_to_8bit(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return np.zeros(arr.shape, np.uint8)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0 and hi <= 1.0 and arr.dtype.kind == "f":
        scaled = arr * 255.0  # float images in [0, 1]
    elif lo >= 0 and hi <= 255:
        scaled = arr
    elif lo >= 0 and hi <= 65535:
        scaled = arr / 257.0  # 16-bit range
    else:
        scaled = (arr - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: alpha on white, palettes, CMYK, 16-bit and float."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        return _composite_on_white(im)
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_scale_to_8bit(np.asarray(im)), "L").convert("RGB")
    if mode == "CMYK" and im.info.get("icc_profile"):
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:
            pass  # a broken profile still leaves the plain conversion below
    return im.convert("RGB")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header only; raises ImageLoadError."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(path, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image this program can read (unknown format, wrong extension or damaged header)"
    if isinstance(exc, Image.DecompressionBombError):
        return f"too many pixels, refused as a possible decompression bomb ({exc})"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, (EOFError, SyntaxError)):
        return f"truncated or corrupt image data ({text})"
    return f"cannot decode image ({text})"


def _bomb_check(path: Path, w: int, h: int, fmt: str | None, jpeg: bool, max_pixels: int) -> None:
    """Refuse, before decoding, what cannot be decoded within `max_pixels` or is a bomb."""
    pixels = w * h
    if pixels <= max_pixels:
        return
    mp = f"{w}x{h} is {pixels / 1e6:.0f} megapixels"
    if path.stat().st_size < pixels * MIN_BYTES_PER_PIXEL:
        raise ImageLoadError(path, f"{mp} in a file of {path.stat().st_size / 1e3:.0f} kB, far too small for "
                               f"that many pixels (possible decompression bomb)")
    if not jpeg:
        raise ImageLoadError(path, f"{mp}, over the {max_pixels / 1e6:.0f} MP limit for {fmt or 'this format'} "
                               f"images (only JPEG can be decoded reduced); save it as JPEG or scale it down")
    if pixels > MAX_CLAIMED_PIXELS:
        raise ImageLoadError(path, f"{mp}, over the {MAX_CLAIMED_PIXELS / 1e6:.0f} MP limit "
                               f"(possible decompression bomb)")


def _reduced_request(w: int, h: int, min_size: tuple[int, int] | None, max_pixels: int) -> tuple[int, int] | None:
    """The smallest (w, h) the caller can use, or None to decode at full size."""
    rw, rh = (w, h) if min_size is None else (min(w, max(1, min_size[0])), min(h, max(1, min_size[1])))
    if rw * rh > max_pixels:  # no request, or one too big: the first halving that fits the limit
        scale = 2
        while -(-w // scale) * -(-h // scale) > max_pixels:
            scale *= 2
        rw, rh = -(-w // scale), -(-h // scale)
    return None if (rw, rh) == (w, h) else (rw, rh)


SizeRequest = Union[Tuple[int, int], Callable[[int, int], Tuple[int, int]], None]


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS,
               min_size: SizeRequest = None) -> Image.Image:
    """Decode `path` to an RGB image, upright per its EXIF orientation (first frame only).

    min_size: the (width, height) the caller needs at least (in upright orientation); the
    image may then be decoded reduced (JPEG at 1/2 .. 1/8, others by integer factors) but
    never below it on either side, so memory and time follow the size used, not the file's.
    It may be a function of the image's upright (width, height) returning that size.
    Without it the full image is returned, JPEGs over `max_pixels` reduced to fit.
    `img.info["original_size"]` keeps the file's own (upright) size.
    """
    path = Path(path)
    if not path.exists():
        from gcam_desktop.files import why_missing

        raise ImageLoadError(path, why_missing(path, "file"))
    if path.is_dir():
        raise ImageLoadError(path, "is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
        with Image.open(path) as im:
            w, h = im.size
            if w == 0 or h == 0:
                raise ImageLoadError(path, "image has zero width or height")
            _bomb_check(path, w, h, im.format, _is_jpeg(im), max_pixels)
            swapped = _exif_swaps_sides(im)
            upright = (h, w) if swapped else (w, h)
            want = min_size(*upright) if callable(min_size) else min_size
            want = None if want is None else (int(want[0]), int(want[1]))
            if want is not None and swapped:
                want = (want[1], want[0])  # the request is upright; the file is not
            request = _reduced_request(w, h, want, max_pixels)
            if request is not None and _is_jpeg(im):
                im.draft(im.mode if im.mode in ("RGB", "L") else None, request)
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animations: the first frame
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:
                pass  # damaged EXIF: keep the pixels as stored
            rgb = to_rgb(im)
            rgb = rgb.copy() if rgb is im else rgb
            if request is not None:
                rw, rh = (request[1], request[0]) if swapped else request
                factor = max(1, min(rgb.width // rw, rgb.height // rh))
                while -(-rgb.width // factor) * -(-rgb.height // factor) > max_pixels:
                    factor += 1  # PNG, TIFF ... decode whole; the limit still holds after
                if factor >= 2:
                    rgb = rgb.reduce(factor)  # the rest of the way, never below the request
            rgb.info["original_size"] = upright
            return rgb
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError,
            Image.DecompressionBombError, MemoryError) as exc:
        raise ImageLoadError(path, _reason(exc)) from exc


def _is_jpeg(im: Image.Image) -> bool:
    from PIL import JpegImagePlugin  # MPO (camera multi-picture files) is a JPEG too

    return isinstance(im, JpegImagePlugin.JpegImageFile)


def _exif_swaps_sides(im: Image.Image) -> bool:
    try:
        return im.getexif().get(0x0112) in (5, 6, 7, 8)  # the orientations turned by 90 degrees
    except Exception:
        return False
