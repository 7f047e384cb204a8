"""One image panel: the picture with an optional explanation map over it, a caption, and
its top-5 predictions. Panels share zoom and pan by linking their view boxes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from .compositing import safe_levels
from .predictions import PredictionList

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background=None)


class _View(pg.GraphicsView):
    left = Signal()

    def leaveEvent(self, ev) -> None:
        super().leaveEvent(ev)
        self.left.emit()


class ImagePanel(QFrame):
    hovered = Signal(object)   # (x, y) in displayed-image pixels, or None when the mouse left

    def __init__(self, key: str, title: str, predictions: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName("panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setObjectName("panelTitle")
        self.status = QLabel()
        self.status.setObjectName("panelStatus")
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.subtitle = QLabel()
        self.subtitle.setObjectName("panelSubtitle")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for lab in (self.title, self.subtitle, self.status):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view = _View()
        self.view.setMinimumSize(120, 120)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setDefaultPadding(0.0)
        # Ranges change only on purpose (fit, zoom, pan): automatic ranging on every new
        # image would ripple through the linked views and cost the UI thread for nothing.
        self.vb.disableAutoRange()
        self.view.setCentralItem(self.vb)
        self.base = pg.ImageItem()
        self.overlay = pg.ImageItem()
        self.overlay.setZValue(1)
        self.marker = pg.ScatterPlotItem(size=13, symbol="+", pen=pg.mkPen("w", width=2),
                                         brush=None)
        self.marker.setZValue(2)
        self.marker.setVisible(False)
        for item in (self.base, self.overlay, self.marker):
            self.vb.addItem(item)
        self.value = QLabel(" ")
        self.value.setObjectName("panelValue")
        self.value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.predictions = PredictionList() if predictions else None
        self.info = None if predictions else QLabel()
        if self.info is not None:
            self.info.setObjectName("panelInfo")
            self.info.setWordWrap(True)
            self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.info.setFixedHeight(5 * (self.fontMetrics().height() + 4) + 2)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title, 3)
        head.addWidget(self.status, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(3)
        layout.addLayout(head)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.value)
        layout.addWidget(self.predictions or self.info)

        self.image: np.ndarray | None = None    # H x W x 3 uint8 as displayed
        self.map: np.ndarray | None = None      # H x W float, unnormalised, display resolution
        self.levels = (0.0, 1.0)
        self.raw_value_label = "value"
        self._proxy = pg.SignalProxy(self.view.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse)
        self.view.left.connect(lambda: self.hovered.emit(None))

    # -- content --------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray | None) -> bool:
        """Show `rgb`; returns whether its size differs from the previous picture's."""
        resized = self.image is None or rgb is None or self.image.shape[:2] != rgb.shape[:2]
        if rgb is not self.image:
            self.image = rgb
            if rgb is None:
                self.base.clear()
            else:
                self.base.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.clear_map()
        return resized

    def clear_map(self) -> None:
        if self.map is not None:
            self.map = None
            self.overlay.clear()
        self.overlay.setVisible(False)

    def set_map(self, values: np.ndarray, lut: np.ndarray, levels: tuple[float, float]) -> None:
        """`values`: unnormalised map at the displayed image's size; levels pick the scale."""
        self.map = values
        self.levels = safe_levels(*levels)
        self.overlay.setImage(values, autoLevels=False, levels=self.levels, lut=lut)
        self.overlay.setVisible(True)

    def set_levels(self, levels: tuple[float, float]) -> None:
        levels = safe_levels(*levels)
        if levels == self.levels:
            return  # re-rendering the map for nothing costs the UI thread milliseconds
        self.levels = levels
        if self.map is not None:
            self.overlay.setLevels(self.levels)

    def set_lut(self, lut: np.ndarray) -> None:
        if self.map is not None:
            self.overlay.setLookupTable(lut)

    def set_opacity(self, alpha: float) -> None:
        # Qt composites the cached colourised map over the picture: nothing is recomputed.
        self.overlay.setOpacity(float(alpha))

    def set_status(self, text: str, kind: str = "") -> None:
        self.status.setText(text)
        self.status.setProperty("kind", kind)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def set_error(self, message: str) -> None:
        self.clear_map()
        self.set_status("error", "error")
        self.status.setToolTip(message)
        if self.predictions is not None:
            self.predictions.set_note(message)

    # -- hover ----------------------------------------------------------------------------
    def _on_mouse(self, args) -> None:
        pos = args[0]
        if self.image is None or not self.vb.sceneBoundingRect().contains(pos):
            self.hovered.emit(None)
            return
        p = self.vb.mapSceneToView(pos)
        h, w = self.image.shape[:2]
        x, y = p.x(), p.y()
        self.hovered.emit((x, y) if 0 <= x < w and 0 <= y < h else None)

    def value_at(self, x: float, y: float) -> tuple[float, float] | None:
        """(value on the current scale in [0, 1], unnormalised value) under image pixel (x, y)."""
        if self.map is None:
            return None
        h, w = self.map.shape
        xi, yi = int(x), int(y)
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        raw = float(self.map[yi, xi])
        lo, hi = self.levels
        return min(1.0, max(0.0, (raw - lo) / (hi - lo))), raw

    def show_hover(self, pos) -> None:
        if pos is None or self.image is None:
            self.marker.setVisible(False)
            self.value.setText(" ")
            return
        x, y = pos
        self.marker.setData([x], [y])
        self.marker.setVisible(True)
        v = self.value_at(x, y)
        if v is None:
            self.value.setText(f"x {int(x)}, y {int(y)}")
        else:
            self.value.setText(f"x {int(x)}, y {int(y)}   {self.raw_value_label} {v[0]:.3f}  (raw {v[1]:.3g})")
