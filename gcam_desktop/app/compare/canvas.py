"""The drawing part of a panel: a pyqtgraph view box with the picture, the map over it and
the hover marker. Kept apart from the panel so pyqtgraph (half a second to import) loads
after the window has painted."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QSizePolicy

from gcam_desktop.app.common.pg_setup import pg


class PanelCanvas(pg.GraphicsView):
    hovered = Signal(object)   # (x, y) in displayed-image pixels, or None

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(100, 100)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setDefaultPadding(0.0)
        # Ranges change only on purpose (fit, zoom, pan): automatic ranging on every new
        # image would ripple through the linked views and cost the UI thread for nothing.
        self.vb.disableAutoRange()
        self.setCentralItem(self.vb)
        self.base = pg.ImageItem()
        self.overlay = pg.ImageItem()
        self.overlay.setZValue(1)
        self.overlay.setVisible(False)
        self.marker = pg.ScatterPlotItem(size=13, symbol="+", pen=pg.mkPen("w", width=2), brush=None)
        self.marker.setZValue(2)
        self.marker.setVisible(False)
        for item in (self.base, self.overlay, self.marker):
            self.vb.addItem(item)
        self._shape: tuple | None = None
        # kept: a SignalProxy nobody references stops forwarding
        self._proxy = pg.SignalProxy(self.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse)

    def set_image(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self.base.clear()
            self._shape = None
        else:
            self.base.setImage(rgb, autoLevels=False, levels=(0, 255))
            self._shape = rgb.shape[:2]

    def set_map(self, values: np.ndarray | None, lut=None, levels=(0.0, 1.0)) -> None:
        if values is None:
            self.overlay.clear()
            self.overlay.setVisible(False)
            return
        self.overlay.setImage(values, autoLevels=False, levels=levels, lut=lut)
        self.overlay.setVisible(True)

    def show_marker(self, pos) -> None:
        if pos is None:
            self.marker.setVisible(False)
        else:
            self.marker.setData([pos[0]], [pos[1]])
            self.marker.setVisible(True)

    def _on_mouse(self, args) -> None:
        pos = args[0]
        if self._shape is None or not self.vb.sceneBoundingRect().contains(pos):
            self.hovered.emit(None)
            return
        p = self.vb.mapSceneToView(pos)
        h, w = self._shape
        self.hovered.emit((p.x(), p.y()) if 0 <= p.x() < w and 0 <= p.y() < h else None)

    def leaveEvent(self, ev) -> None:
        super().leaveEvent(ev)
        self.hovered.emit(None)
