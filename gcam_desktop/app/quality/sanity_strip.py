"""The Sanity section's strip of maps: for one method, a row per model with its map at each
step of the cascade (the original first), as small thumbnails sized to the space there is.
Painted by hand, so the strip shrinks with the window instead of pushing it larger."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from gcam_desktop.app.common.qimage import rgb_to_qimage

GAP = 3
ALPHA = 0.5
CMAP = "turbo"


def thumbnail(map01: np.ndarray, image: np.ndarray | None, on_image: bool) -> np.ndarray:
    """The map coloured (turbo), over the picture at half opacity when `on_image` and there is one."""
    from gcam_desktop.explain.overlay import colorize, overlay

    if on_image and image is not None:
        return overlay(image, map01, ALPHA, CMAP)
    return colorize(map01, CMAP)


class MapStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 60)
        self.columns: list[str] = []
        self.rows: list[tuple[str, list[QImage]]] = []  # (model, one image per column)

    def sizeHint(self) -> QSize:
        return QSize(480, 200)

    def clear(self) -> None:
        self.columns, self.rows = [], []
        self.setToolTip("")
        self.update()

    def set_rows(self, columns: list[str], rows: list[tuple[str, list[np.ndarray]]], tip: str = "") -> None:
        """columns: step names; rows: (model, one H x W x 3 uint8 picture per column)."""
        self.columns = list(columns)
        self.rows = [(name, [rgb_to_qimage(p) for p in pictures]) for name, pictures in rows]
        self.setToolTip(tip)
        self.update()

    def cells(self) -> list[QRect]:
        """Where the thumbnails go, row by row (tests read it: every one inside the widget)."""
        if not self.rows or not self.columns:
            return []
        fm = self.fontMetrics()
        label_w = min(self.width() // 4, max(fm.horizontalAdvance(n) for n, _ in self.rows) + 2 * GAP)
        top = fm.height() + GAP
        n_cols, n_rows = len(self.columns), len(self.rows)
        side = min((self.width() - label_w) // n_cols, (self.height() - top) // n_rows) - GAP
        if side < 4:
            return []
        return [QRect(label_w + c * (side + GAP), top + r * (side + GAP), side, side)
                for r in range(n_rows) for c in range(n_cols)]

    def paintEvent(self, event) -> None:
        cells = self.cells()
        if not cells:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        fm = self.fontMetrics()
        n_cols = len(self.columns)
        for c, name in enumerate(self.columns):
            r = cells[c]
            p.drawText(QRect(r.left(), 0, r.width(), fm.height()), Qt.AlignmentFlag.AlignCenter,
                       fm.elidedText(name, Qt.TextElideMode.ElideRight, r.width()))
        for i, (model, images) in enumerate(self.rows):
            first = cells[i * n_cols]
            label = QRect(0, first.top(), first.left() - GAP, first.height())
            p.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(model, Qt.TextElideMode.ElideRight, label.width()))
            for c, img in enumerate(images[:n_cols]):
                p.drawImage(cells[i * n_cols + c], img)
        p.end()
