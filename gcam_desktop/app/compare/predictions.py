"""Top-5 predictions as a compact bar list: class, probability, target and true class marked."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

ROWS = 5
MIN_ROWS = 3  # a small window keeps the top three; the rest come back as it grows


class PredictionList(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float, bool, bool]] = []   # name, prob, is_target, is_true
        self.note = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setMinimumWidth(120)

    def _row_h(self) -> int:
        return self.fontMetrics().height() + 4

    def sizeHint(self) -> QSize:
        return QSize(200, ROWS * self._row_h() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, MIN_ROWS * self._row_h() + 2)

    def visible_rows(self) -> int:
        """Whole rows that fit the height the layout gave (never a half-drawn one)."""
        return max(1, min(len(self.rows), (self.height() - 2) // self._row_h()))

    def set_predictions(self, top, class_names, target: int | None = None, true_class: int | None = None) -> None:
        self.rows = []
        for cls, prob in top:
            name = class_names[cls] if 0 <= cls < len(class_names) else f"class {cls}"
            self.rows.append((name, float(prob), cls == target, cls == true_class))
        self.note = ""
        self.update()

    def set_note(self, text: str) -> None:
        self.rows, self.note = [], text
        self.update()

    def texts(self) -> list[str]:
        """Row texts as shown (tests and export read them)."""
        return [f"{n} {p * 100:.1f}%" for n, p, _, _ in self.rows]

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        pal = self.palette()
        row_h = self._row_h()
        w = self.width()
        if not self.rows:
            c = QColor(pal.color(QPalette.ColorRole.WindowText))
            c.setAlpha(140)
            p.setPen(c)
            p.drawText(QRect(0, 0, w, self.height()), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.note)
            return
        accent = pal.color(QPalette.ColorRole.Highlight)
        fm = self.fontMetrics()
        pct_w = fm.horizontalAdvance("100.0%") + 6
        bold = QFont(self.font())
        bold.setBold(True)
        for i, (name, prob, is_target, is_true) in enumerate(self.rows[:self.visible_rows()]):
            top = i * row_h
            bar = QColor(accent)
            bar.setAlpha(110 if is_target else 45)
            p.fillRect(QRect(0, top + 1, max(1, int(w * prob)), row_h - 2), bar)
            p.setPen(pal.color(QPalette.ColorRole.WindowText))
            p.setFont(bold if is_target else self.font())
            label = ("\u2713 " if is_true else "") + name
            label = p.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, w - pct_w - 6)
            p.drawText(QRect(4, top, w - pct_w - 4, row_h), Qt.AlignmentFlag.AlignVCenter, label)
            p.drawText(QRect(w - pct_w, top, pct_w - 4, row_h),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{prob * 100:.1f}%")
