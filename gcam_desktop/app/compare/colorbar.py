"""A horizontal colour bar: the current colour map and the value range it spans."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from gcam_desktop.app.common.text import format_value


class ColorBar(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._img: QImage | None = None
        self.lo, self.hi, self.caption = 0.0, 1.0, ""
        self.shown_caption = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Colour map and the value range it covers")

    def sizeHint(self) -> QSize:
        return QSize(220, self.fontMetrics().height() * 2 + 8)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.fontMetrics().height() * 2 + 8)

    def set_lut(self, lut: np.ndarray) -> None:
        row = np.ascontiguousarray(np.asarray(lut, dtype=np.uint8)[None, :, :3])
        self._img = QImage(row.data, row.shape[1], 1, 3 * row.shape[1], QImage.Format.Format_RGB888).copy()
        self.update()

    def set_range(self, lo: float, hi: float, caption: str = "") -> None:
        self.lo, self.hi, self.caption = float(lo), float(hi), caption
        self.setToolTip(f"Colour map over {format_value(lo)} .. {format_value(hi)}" + (f": {caption}" if caption else ""))
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        fm = self.fontMetrics()
        bar = QRect(0, 2, self.width() - 1, max(8, self.height() - fm.height() - 6))
        if self._img is not None:
            p.drawImage(bar, self._img)
        p.setPen(self.palette().color(QPalette.ColorRole.Mid))
        p.drawRect(bar)
        p.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        text = QRect(0, bar.bottom() + 2, self.width(), fm.height())
        lo, hi = format_value(self.lo), format_value(self.hi)
        p.drawText(text, Qt.AlignmentFlag.AlignLeft, lo)
        p.drawText(text, Qt.AlignmentFlag.AlignRight, hi)
        # The caption only in the room between the two numbers, shortened with "…" (never
        # drawn over them: at 1024 px it read "0each panel: its own max1"); whole in the tooltip.
        gap = fm.horizontalAdvance("  ")
        room = self.width() - 2 * max(fm.horizontalAdvance(lo), fm.horizontalAdvance(hi)) - 2 * gap
        shown = fm.elidedText(self.caption, Qt.TextElideMode.ElideRight, room) if self.caption and room > 0 else ""
        if shown and shown != "\u2026":
            c = QColor(self.palette().color(QPalette.ColorRole.WindowText))
            c.setAlpha(160)
            p.setPen(c)
            p.drawText(text, Qt.AlignmentFlag.AlignHCenter, shown)
        self.shown_caption = shown
