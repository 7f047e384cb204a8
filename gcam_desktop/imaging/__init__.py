"""One image loader and folder scanning. Qt-free and torch-free (preprocess.py imports torch)."""

from .loader import MAX_CLAIMED_PIXELS, MAX_PIXELS, ImageLoadError, image_size, load_image, to_rgb
from .scan import IMAGE_EXTENSIONS, is_image_path, natural_sorted, not_a_file, scan_folder

__all__ = ["IMAGE_EXTENSIONS", "MAX_CLAIMED_PIXELS", "MAX_PIXELS", "ImageLoadError", "image_size", "is_image_path",
           "load_image", "natural_sorted", "not_a_file", "scan_folder", "to_rgb"]
