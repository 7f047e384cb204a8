"""The original picture and one panel per active model, side by side, sharing zoom, pan and
the hover cursor; optionally a difference panel between two of them."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QGridLayout, QWidget

from .panel import ImagePanel

DIFF = "difference"


class ComparisonView(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.original = ImagePanel("original", "Original", predictions=False)
        self.diff = ImagePanel(DIFF, "Difference", predictions=False)
        self.diff.raw_value_label = "A\u2212B"
        self.panels: dict[str, ImagePanel] = {}
        self.order: list[str] = []
        self.show_diff = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        for p in (self.original, self.diff):
            p.hovered.connect(self.show_hover)
        self._link(self.diff)
        self._relayout()

    def _link(self, panel: ImagePanel) -> None:
        panel.vb.setXLink(self.original.vb)
        panel.vb.setYLink(self.original.vb)

    def set_panels(self, slots: list[tuple[str, str]]) -> None:
        """(slot, title) of the active models, in display order; panels are reused."""
        wanted = [s for s, _ in slots]
        for slot, title in slots:
            panel = self.panels.get(slot)
            if panel is None:
                panel = ImagePanel(slot, title)
                panel.hovered.connect(self.show_hover)
                self._link(panel)
                self.panels[slot] = panel
                if self.original.image is not None:
                    panel.set_image(self.original.image)
                    panel.vb.setRange(*self._current_range(), padding=0.0)
            panel.title.setText(title)
        self.order = wanted
        self._relayout()

    def set_show_diff(self, on: bool) -> None:
        self.show_diff = bool(on)
        self._relayout()

    def visible_panels(self) -> list[ImagePanel]:
        out = [self.original, *(self.panels[s] for s in self.order)]
        return out + [self.diff] if self.show_diff else out

    def _relayout(self) -> None:
        while self._grid.count():
            self._grid.takeAt(0)
        for panel in [self.original, self.diff, *self.panels.values()]:
            panel.setVisible(False)
        shown = self.visible_panels()
        cols = len(shown) if len(shown) <= 4 else math.ceil(len(shown) / 2)
        for c in range(8):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        for i, panel in enumerate(shown):
            self._grid.addWidget(panel, i // cols, i % cols)
            panel.setVisible(True)

    def set_image(self, rgb) -> None:
        resized = self.original.set_image(rgb)
        for panel in [self.diff, *self.panels.values()]:
            panel.set_image(rgb)
        if resized and rgb is not None:
            self.reset_zoom()   # the linked panels follow

    def set_opacity(self, alpha: float) -> None:
        for panel in [self.diff, *self.panels.values()]:
            panel.set_opacity(alpha)

    def show_hover(self, pos) -> None:
        for panel in self.visible_panels():
            panel.show_hover(pos)

    def _current_range(self):
        (x0, x1), (y0, y1) = self.original.vb.viewRange()
        from PySide6.QtCore import QRectF

        return (QRectF(x0, y0, x1 - x0, y1 - y0),)

    def reset_zoom(self) -> None:
        img = self.original.image
        if img is not None:
            h, w = img.shape[:2]
            self.original.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
