"""A label that never cuts its text in the middle of a letter: what does not fit ends in "…",
and the whole text is in the tooltip. For titles and names in fixed-width places (panel
titles, slot cards) that must stay legible at 1024 x 700 and at 200 % scale."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", lines: int = 1, parent=None) -> None:
        super().__init__(parent)
        self._full = ""
        self._lines = max(1, int(lines))
        self._own_tip = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setWordWrap(self._lines > 1)
        self.setText(text)

    def text(self) -> str:  # the whole text, for code; shown_text() is what is painted
        return self._full

    def shown_text(self) -> str:
        return QLabel.text(self)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = str(text or "")
        self._elide()

    def setToolTip(self, tip: str) -> None:  # noqa: N802
        self._own_tip = tip
        self._elide()

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.horizontalAdvance(self._full) + m.left() + m.right() + 2,
                     fm.lineSpacing() * self._lines + m.top() + m.bottom())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("\u2026") * 3, self.sizeHint().height())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._elide()  # the style sheet's font arrives after construction

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        fm = self.fontMetrics()
        m = self.contentsMargins()
        width = max(1, self.width() - m.left() - m.right() - 2)
        # Several lines: about that many widths of text, the last line ending in "…".
        shown = fm.elidedText(self._full, Qt.TextElideMode.ElideRight, width * self._lines - (self._lines - 1) * fm.averageCharWidth() * 4)
        super().setText(shown)
        cut = shown != self._full
        tip = self._own_tip or (self._full if cut else "")
        if cut and self._own_tip and self._full not in self._own_tip:
            tip = f"{self._full}\n{self._own_tip}"
        QLabel.setToolTip(self, tip)
        self.setFixedHeight(fm.lineSpacing() * self._lines + m.top() + m.bottom())

    def is_elided(self) -> bool:
        return self.shown_text() != self._full
