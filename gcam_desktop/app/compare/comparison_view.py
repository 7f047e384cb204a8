"""The original picture and one panel per active model, side by side, sharing zoom, pan and
the hover cursor; optionally a difference panel between two of them."""

from __future__ import annotations

import math

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

from gcam_desktop.app.compare.image_panel import ImagePanel

DIFF = "difference"


class ComparisonView(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.original = ImagePanel("original", "Original", predictions=False)
        self.diff = ImagePanel(DIFF, "Difference", predictions=False)
        self.diff.raw_value_label = "A\u2212B"
        # Its own colour bar: a diverging map on a symmetric range, not the panels' scale.
        from gcam_desktop.app.compare.colorbar import ColorBar

        self.diff_colorbar = ColorBar()
        self.diff_colorbar.setToolTip("Difference A \u2212 B: red where A weighs the region more, blue where B "
                                      "does, white where they agree; the range is symmetric around 0")
        self.diff.add_footer(self.diff_colorbar)
        self.panels: dict[str, ImagePanel] = {}
        self.order: list[str] = []
        self.show_diff = False
        # Set by a zoom or pan of the user's, cleared by Fit: until then every change of the
        # layout (slots ticked, models loaded, grid, window size) refits the picture.
        self.user_zoomed = False
        self._refit_timer = QTimer(self, singleShot=True, interval=0)
        self._refit_timer.timeout.connect(self._refit)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self.canvases = False      # attached after the window's first paint
        for p in (self.original, self.diff):
            p.hovered.connect(self.show_hover)
        self._relayout()

    def attach_canvases(self) -> None:
        """Create the pyqtgraph canvases (first use imports pyqtgraph) and link their views."""
        self.canvases = True
        self.original.attach_canvas()
        self.original.vb.sigResized.connect(self._schedule_refit)
        self.original.vb.sigRangeChangedManually.connect(self._on_user_zoom)
        for panel in [self.diff, *self.panels.values()]:
            self._link(panel)
        self.reset_zoom()

    def _link(self, panel: ImagePanel) -> None:
        panel.attach_canvas()
        panel.vb.setXLink(self.original.vb)
        panel.vb.setYLink(self.original.vb)
        panel.vb.sigRangeChangedManually.connect(self._on_user_zoom)
        panel.vb.sigResized.connect(self._schedule_refit)

    def set_panels(self, slots: list[tuple[str, str]]) -> None:
        """(slot, title) of the active models, in display order; panels are reused."""
        wanted = [s for s, _ in slots]
        for slot, title in slots:
            panel = self.panels.get(slot)
            if panel is None:
                panel = ImagePanel(slot, title)
                panel.hovered.connect(self.show_hover)
                self.panels[slot] = panel
                if self.original.image is not None:
                    panel.set_image(self.original.image)
                if self.canvases:
                    self._link(panel)
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
        # One row while panels stay usable side by side (5 on a 1280-px screen); beyond
        # that two rows (original + 4 slots + difference).
        cols = len(shown) if len(shown) <= 5 else math.ceil(len(shown) / 2)
        for c in range(8):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        for i, panel in enumerate(shown):
            self._grid.addWidget(panel, i // cols, i % cols)
            panel.setVisible(True)
        self._schedule_refit()

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

    def _on_user_zoom(self, *_) -> None:
        self.user_zoomed = True

    def _schedule_refit(self, *_) -> None:
        if not self.user_zoomed:
            self._refit_timer.start()  # after the layout has given every panel its size

    def _refit(self) -> None:
        if not self.user_zoomed:
            self._fit()

    def reset_zoom(self) -> None:
        """Fit the picture into the panels (the Fit button); later layout changes refit too."""
        self.user_zoomed = False
        self._fit()

    def _fit(self) -> None:
        img = self.original.image
        if img is not None and self.original.canvas is not None:
            h, w = img.shape[:2]
            self.original.canvas.fit(w, h)   # the linked panels follow
