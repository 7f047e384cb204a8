"""The images' 2-D layout, coloured by cluster: one pyqtgraph ScatterPlotItem with a brush per
point (10,000 points stay one item, drawn from a cached symbol per brush), and the point under
the mouse found by a k-d tree (scipy's cKDTree) instead of per-point items or pyqtgraph's own
linear `pointsAt`. Hovering shows the picture's thumbnail; clicking one asks to open it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from gcam_desktop.app.common.pg_setup import pg

# Colour-blind-safe qualitative colours (Okabe-Ito, then Tableau's lighter set): cluster j gets
# CLUSTER_COLOURS[j % len]; the cluster list uses the same.
CLUSTER_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (213, 94, 0), (86, 180, 233),
    (240, 228, 66), (0, 0, 0), (148, 103, 189), (140, 86, 75), (127, 127, 127), (188, 189, 34),
)
POINT_SIZE = 7       # px
HOVER_RADIUS = 10    # px: the nearest point within this is the one under the mouse


def cluster_colour(j: int) -> tuple[int, int, int]:
    return CLUSTER_COLOURS[j % len(CLUSTER_COLOURS)]


class StrategyScatter(QWidget):
    """`set_points(layout, labels, paths)`; `imageClicked(path)` when a point is clicked."""

    imageClicked = Signal(str)
    hovered = Signal(int)          # index of the point under the mouse, -1 for none

    def __init__(self, thumbnail: Callable[[str], QImage | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnail = thumbnail or (lambda _path: None)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)   # equal pixel sizes on both axes: a radius in px is a circle
        for side in ("left", "bottom"):  # t-SNE's axes mean nothing: only nearness does
            self.plot.hideAxis(side)
        self.plot.setTitle("The class's maps laid out by t-SNE, coloured by cluster", size="9pt")
        self.plot.setToolTip("")
        self.item = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, pxMode=True)
        self.plot.addItem(self.item)
        self.marker = pg.ScatterPlotItem(size=POINT_SIZE + 8, brush=None, pxMode=True,
                                         pen=pg.mkPen("#202020", width=2))   # the hovered point
        self.plot.addItem(self.marker)
        # The hovered picture: a frame of its own over the plot, not a tooltip (which waits).
        self.tip = QFrame(self.plot)
        self.tip.setObjectName("strategyHover")
        self.tip.setStyleSheet("#strategyHover { background: white; border: 1px solid #8a93a3; }")
        self.tip.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.tip_image, self.tip_text = QLabel(), QLabel()
        tl = QVBoxLayout(self.tip)
        tl.setContentsMargins(4, 4, 4, 4)
        tl.setSpacing(2)
        tl.addWidget(self.tip_image, 0, Qt.AlignmentFlag.AlignHCenter)
        tl.addWidget(self.tip_text)
        self.tip.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.layout_xy = np.zeros((0, 2))
        self.labels = np.zeros(0, dtype=int)
        self.paths: list[str] = []
        self._tree = None
        self._hover = -1
        self._chosen = -1
        self._hover_pos = QPoint()
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    # -- data -----------------------------------------------------------------------------------
    def set_points(self, layout: np.ndarray, labels: Sequence[int], paths: Sequence[str]) -> None:
        from scipy.spatial import cKDTree

        xy = np.asarray(layout, dtype=float).reshape(-1, 2)
        labels = np.asarray(labels, dtype=int).reshape(-1)
        if not (len(xy) == len(labels) == len(paths)):
            raise ValueError(f"{len(xy)} positions, {len(labels)} labels and {len(paths)} paths")
        self.layout_xy, self.labels, self.paths = xy, labels, [str(p) for p in paths]
        brushes = {j: pg.mkBrush(*cluster_colour(j), 220) for j in np.unique(labels)}
        self.item.setData(pos=xy, brush=[brushes[j] for j in labels], data=np.arange(len(xy)))
        self._tree = cKDTree(xy) if len(xy) else None
        self._chosen = -1
        self._set_hover(-1)
        self.plot.autoRange(padding=0.05)

    def emphasise(self, cluster: int) -> None:
        """Draw `cluster`'s points larger (the one chosen in the cluster list); -1: none."""
        if cluster == self._chosen or not len(self.labels):
            return
        self._chosen = cluster
        self.item.setSize(np.where(self.labels == cluster, POINT_SIZE + 4, POINT_SIZE) if cluster >= 0 else POINT_SIZE)

    def clear(self) -> None:
        self.item.clear()
        self.layout_xy, self.labels, self.paths, self._tree = np.zeros((0, 2)), np.zeros(0, dtype=int), [], None
        self._set_hover(-1)

    def brush_colours(self) -> list[tuple[int, int, int]]:
        """Each point's fill colour as drawn (tests read it)."""
        return [tuple(b.color().getRgb()[:3]) for b in self.item.data["brush"]]

    # -- lookups ----------------------------------------------------------------------------------
    def nearest(self, x: float, y: float, radius: float | None = None) -> int:
        """The point nearest (x, y) in the layout's coordinates, within `radius` (layout units;
        default HOVER_RADIUS screen pixels at the current zoom); -1 for none."""
        if self._tree is None:
            return -1
        if radius is None:
            radius = HOVER_RADIUS * self._pixel_size()
        dist, i = self._tree.query([x, y], k=1, distance_upper_bound=radius)
        return int(i) if np.isfinite(dist) else -1

    def _pixel_size(self) -> float:
        px = self.plot.getViewBox().viewPixelSize()
        return float(max(px[0], px[1])) or 1.0

    # -- the mouse --------------------------------------------------------------------------------
    def _on_move(self, scene_pos) -> None:
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            self._set_hover(-1)
            return
        p = vb.mapSceneToView(scene_pos)
        self._hover_pos = self.plot.mapFromScene(scene_pos)
        self._set_hover(self.nearest(p.x(), p.y()))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.plot.getViewBox().mapSceneToView(event.scenePos())
        i = self.nearest(p.x(), p.y())
        if i >= 0:
            self.imageClicked.emit(self.paths[i])

    def _set_hover(self, i: int) -> None:
        if i == self._hover and (i < 0 or self.tip.isVisible()):
            self._place_tip()
            return
        self._hover = i
        self.hovered.emit(i)
        if i < 0:
            self.marker.clear()
            self.tip.hide()
            return
        self.marker.setData(pos=self.layout_xy[i:i + 1])
        self.refresh_tip()

    def refresh_tip(self, path: str | None = None) -> None:
        """Show the hovered picture (again, once its thumbnail is ready: `path` is the one that is)."""
        i = self._hover
        if i < 0 or (path is not None and path != self.paths[i]):
            return
        img = self._thumbnail(self.paths[i])
        caption = f"{Path(self.paths[i]).name} \u00b7 cluster {int(self.labels[i]) + 1}"
        has_image = img is not None and not img.isNull()
        self.tip_image.setVisible(has_image)
        if has_image:
            self.tip_image.setPixmap(QPixmap.fromImage(img))
        self.tip_text.setText(caption)
        self.tip.adjustSize()
        self._place_tip()
        self.tip.show()
        self.tip.raise_()

    def _place_tip(self) -> None:
        if self._hover < 0:
            return
        pos = self._hover_pos
        x, y = pos.x() + 14, pos.y() + 14
        w, h = self.tip.width(), self.tip.height()
        if x + w > self.plot.width():
            x = max(0, pos.x() - 14 - w)
        if y + h > self.plot.height():
            y = max(0, pos.y() - 14 - h)
        self.tip.move(x, y)

    @property
    def hovered_index(self) -> int:
        return self._hover
