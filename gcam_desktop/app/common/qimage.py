"""numpy / PIL pictures to QImage without a Qt plugin; safe in any thread (QImage, not QPixmap)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgb_to_qimage(img) -> QImage:
    """A PIL RGB image or an HxWx3 uint8 array to a QImage that owns its pixels."""
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 picture, got shape {arr.shape}")
    h, w, _ = arr.shape
    # .copy(): the QImage must not point into the numpy buffer once that is freed.
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()

