"""The original picture and one panel per active model, side by side, sharing zoom, pan and
the hover cursor; optionally a difference panel between two of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

from gcam_desktop.app.compare.image_panel import ImagePanel

DIFF = "difference"


@dataclass(frozen=True)
class ShownDifference:
    """The difference panel as it is shown: its map, colours and range, and its colour bar."""

    map: np.ndarray                 # display resolution, A - B
    lut: np.ndarray
    levels: tuple[float, float]
    subtitle: str
    bar: tuple[float, float, str]   # the colour bar's lo, hi and caption


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
        # The shared view: every panel shows the same picture point at its centre, magnified
        # `zoom` times its own fit (zoom 1: the whole picture, whatever the panel's size). Set by
        # a zoom or pan of the user's, reset by Fit, re-applied at every change of the layout
        # (slots ticked, models loaded, grid, window size).
        # Not pyqtgraph's X/Y links: those line linked views up by screen position, so a panel
        # whose canvas starts lower (a title, a warning) showed a vertically cropped picture.
        self.zoom = 1.0
        self.center: tuple[float, float] | None = None   # picture coordinates; None: its centre
        self._refit_timer = QTimer(self, singleShot=True, interval=0)
        self._refit_timer.timeout.connect(self._apply)
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
        for panel in [self.original, self.diff, *self.panels.values()]:
            self._link(panel)
        self.reset_zoom()

    def _link(self, panel: ImagePanel) -> None:
        panel.attach_canvas()
        panel.vb.sigRangeChangedManually.connect(lambda *_: self._on_user_view(panel))
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

    def shown_difference(self) -> ShownDifference | None:
        """The difference panel, when it is shown and has a map (for the export)."""
        d, bar = self.diff, self.diff_colorbar
        if not self.show_diff or d.map is None or d.lut is None:
            return None
        return ShownDifference(d.map, d.lut, d.levels, d.subtitle.text(), (bar.lo, bar.hi, bar.caption))

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
            self.reset_zoom()

    def set_opacity(self, alpha: float) -> None:
        for panel in [self.diff, *self.panels.values()]:
            panel.set_opacity(alpha)

    def show_hover(self, pos) -> None:
        for panel in self.visible_panels():
            panel.show_hover(pos)

    def _on_user_view(self, panel: ImagePanel) -> None:
        """A zoom or pan in one panel (wheel, drag): the others show the same point, as magnified."""
        fit = self._fit_scale(panel)
        if fit is None:
            return
        rect = panel.vb.viewRect()
        if rect.width() <= 0:
            return
        self.zoom = panel.vb.width() / rect.width() / fit
        self.center = (rect.center().x(), rect.center().y())
        self._apply(skip=panel)

    def _schedule_refit(self, *_) -> None:
        self._refit_timer.start()  # after the layout has given every panel its size

    def reset_zoom(self) -> None:
        """Fit the picture into every panel (the Fit button); later layout changes refit too."""
        self.zoom, self.center = 1.0, None
        self._apply()

    def _fit_scale(self, panel: ImagePanel) -> float | None:
        """Screen pixels per picture pixel at which the whole picture just fits the panel."""
        img = self.original.image
        if img is None or panel.canvas is None or panel.vb.width() <= 0 or panel.vb.height() <= 0:
            return None
        h, w = img.shape[:2]
        return min(panel.vb.width() / w, panel.vb.height() / h)

    def _apply(self, skip: ImagePanel | None = None) -> None:
        img = self.original.image
        if img is None:
            return
        h, w = img.shape[:2]
        cx, cy = self.center or (w / 2, h / 2)
        for panel in self.visible_panels():
            fit = self._fit_scale(panel)
            if panel is skip or fit is None:
                continue
            scale = self.zoom * fit
            half_w, half_h = panel.vb.width() / scale / 2, panel.vb.height() / scale / 2
            panel.vb.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0.0)
