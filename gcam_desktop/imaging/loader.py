"""The one image loader every path into the program uses: any file PIL reads, to RGB.

Qt-free and torch-free, so the app's file list can use it before torch has loaded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Above this many pixels a file is refused before decoding: a 20 kB PNG can inflate to
# gigabytes (decompression bomb). 100 MP still admits any camera or slide tile users have.
MAX_PIXELS = 100_000_000

# Truncated files must fail loudly, not load with a grey bottom half.
ImageFile.LOAD_TRUNCATED_IMAGES = False


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


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode `path` to an RGB image, upright per its EXIF orientation (first frame only)."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(path, "no such file")
    if path.is_dir():
        raise ImageLoadError(path, "is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
        with warnings.catch_warnings():
            # Our own limit below decides; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageLoadError(path, f"{w}x{h} is {w * h / 1e6:.0f} megapixels, over the "
                                               f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb)")
                if w == 0 or h == 0:
                    raise ImageLoadError(path, "image has zero width or height")
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)  # animations: the first frame
                im.load()
                try:
                    im = ImageOps.exif_transpose(im)
                except Exception:
                    pass  # damaged EXIF: keep the pixels as stored
                rgb = to_rgb(im)
                return rgb.copy() if rgb is im else rgb
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError,
            Image.DecompressionBombError, MemoryError) as exc:
        raise ImageLoadError(path, _reason(exc)) from exc
