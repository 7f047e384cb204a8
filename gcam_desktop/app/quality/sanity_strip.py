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
    """Rows of (model, step names, thumbnails). Models of one architecture share one header of
    step names; models with other stages (a small CNN beside ResNets) get a header per row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 60)
        self.rows: list[tuple[str, list[str], list[QImage]]] = []

    def sizeHint(self) -> QSize:
        return QSize(480, 200)

    def clear(self) -> None:
        self.rows = []
        self.setToolTip("")
        self.update()

    def set_rows(self, rows: list[tuple[str, list[str], list[np.ndarray]]], tip: str = "") -> None:
        """rows: (model, step names, one H x W x 3 uint8 picture per step)."""
        self.rows = [(name, list(steps), [rgb_to_qimage(p) for p in pictures]) for name, steps, pictures in rows]
        self.setToolTip(tip)
        self.update()

    @property
    def shared_header(self) -> bool:
        return len({tuple(steps) for _, steps, _ in self.rows}) <= 1

    def cells(self) -> list[list[QRect]]:
        """Where each row's thumbnails go (tests read it: every one inside the widget)."""
        if not self.rows:
            return []
        fm = self.fontMetrics()
        label_w = min(self.width() // 4, max(fm.horizontalAdvance(n) for n, _, _ in self.rows) + 2 * GAP)
        head = fm.height() + GAP
        n_cols, n_rows = max(len(steps) for _, steps, _ in self.rows), len(self.rows)
        heads = head if self.shared_header else head * n_rows
        side = min((self.width() - label_w) // n_cols, (self.height() - heads) // n_rows) - GAP
        if side < 4:
            return []
        out, y = [], 0
        for r, (_, steps, _) in enumerate(self.rows):
            y += head if (r == 0 or not self.shared_header) else 0
            out.append([QRect(label_w + c * (side + GAP), y, side, side) for c in range(len(steps))])
            y += side + GAP
        return out

    def paintEvent(self, event) -> None:
        cells = self.cells()
        if not cells:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        fm = self.fontMetrics()
        for r, (model, steps, images) in enumerate(self.rows):
            row = cells[r]
            if r == 0 or not self.shared_header:
                for rect, name in zip(row, steps):
                    p.drawText(QRect(rect.left(), rect.top() - fm.height() - GAP, rect.width(), fm.height()),
                               Qt.AlignmentFlag.AlignCenter, fm.elidedText(name, Qt.TextElideMode.ElideRight, rect.width()))
            label = QRect(0, row[0].top(), row[0].left() - GAP, row[0].height())
            p.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(model, Qt.TextElideMode.ElideRight, label.width()))
            for rect, img in zip(row, images):
                p.drawImage(rect, img)
        p.end()
