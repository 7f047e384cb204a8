"""A combo box whose current text ends in "…" when it does not fit (Qt's styles clip it
mid-letter: "s_se-ResNe"), the whole text in its tooltip; the list shows whole names.
The partner of ElidedLabel for the narrow places of a 1024 x 700 window."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter


class ElidedComboBox(QComboBox):
    def __init__(self, min_chars: int = 6, parent=None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(min_chars)
        self._own_tip = ""
        self.currentIndexChanged.connect(lambda _i: self._update_tip())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """Room for the longest item where there is room; minimumSizeHint() is the narrow end."""
        hint = super().minimumSizeHint()
        fm = self.fontMetrics()
        longest = max((fm.horizontalAdvance(self.itemText(i)) for i in range(self.count())), default=0)
        extra = longest - fm.horizontalAdvance("x") * self.minimumContentsLength()
        return QSize(hint.width() + max(0, extra), max(hint.height(), super().sizeHint().height()))

    def field_width(self) -> int:
        """Pixels the current text has: the edit field less the style's inset."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        rect = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self)
        return rect.width() - 2  # the style draws the label one pixel in from each side

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, self.field_width())

    def is_elided(self) -> bool:
        return self.shown_text() != self.currentText()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 (Qt's name)
        self._own_tip = tip
        self._update_tip()

    def _update_tip(self) -> None:
        full = self.currentText() if self.is_elided() else ""
        QComboBox.setToolTip(self, "\n".join(t for t in (full, self._own_tip) if t))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_tip()

    def paintEvent(self, event) -> None:
        if self.isEditable():
            return super().paintEvent(event)
        p = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        p.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        p.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
