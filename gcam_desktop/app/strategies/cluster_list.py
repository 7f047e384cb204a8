"""The clusters, one row each: the mean map over the mean image (a small picture framed in the
cluster's scatter colour), size and accuracy; under them the chosen cluster's members, those
nearest its centre first, as thumbnails. Clicking a member asks to open it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gcam_desktop.app.common.qimage import rgb_to_qimage
from gcam_desktop.app.strategies.result_view import ClusterRow
from gcam_desktop.app.strategies.scatter import cluster_colour

MEAN_SIZE = 56     # px, the mean map's picture
THUMB = 48         # px, a member's thumbnail
MEMBERS_SHOWN = 60  # thumbnails listed for a cluster (nearest its centre first); the rest are in the scatter
PathRole = Qt.ItemDataRole.UserRole + 1


def mean_map_picture(row: ClusterRow, size: int = MEAN_SIZE) -> QImage:
    """The mean map coloured and blended over the mean image, framed in the cluster's colour."""
    from gcam_desktop.explain.overlay import colorize, blend

    m = np.asarray(row.mean_map, dtype=np.float32)
    lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
    coloured = colorize(m, "turbo", lo, hi if hi > lo else lo + 1.0, size=(size, size))
    if row.mean_image is not None:
        from PIL import Image

        base = np.asarray(Image.fromarray(np.asarray(row.mean_image, dtype=np.uint8)).resize((size, size)))
        coloured = blend(base, coloured, 0.55)
    framed = np.empty((size + 4, size + 4, 3), np.uint8)
    framed[:] = cluster_colour(row.index)
    framed[2:-2, 2:-2] = coloured
    return rgb_to_qimage(framed)


def row_text(row: ClusterRow, total: int) -> str:
    share = f"{100.0 * row.size / total:.0f} %" if total else "\u2013"
    acc = f"accuracy {100.0 * row.accuracy:.0f} %" if row.accuracy is not None else "accuracy \u2013"
    return f"Cluster {row.index + 1}\n{row.size} images ({share}) \u00b7 {acc}"


class ClusterList(QWidget):
    memberClicked = Signal(str)
    clusterChosen = Signal(int)     # -1 for none

    def __init__(self, thumbnail: Callable[[str], QImage | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnail = thumbnail or (lambda _path: None)
        self.rows: list[ClusterRow] = []
        self.clusters = QListWidget()
        self.clusters.setObjectName("strategyClusters")
        self.clusters.setIconSize(QSize(MEAN_SIZE + 4, MEAN_SIZE + 4))
        self.clusters.setSpacing(1)
        self.clusters.setToolTip("Each cluster's mean map over its mean picture; select one to list its members")
        self.clusters.currentRowChanged.connect(self._on_cluster)
        self.caption = QLabel("Members")
        self.members = QListWidget()
        self.members.setObjectName("strategyMembers")
        self.members.setViewMode(QListView.ViewMode.IconMode)
        self.members.setResizeMode(QListView.ResizeMode.Adjust)
        self.members.setMovement(QListView.Movement.Static)
        self.members.setIconSize(QSize(THUMB, THUMB))
        self.members.setGridSize(QSize(THUMB + 8, THUMB + 8))
        self.members.setUniformItemSizes(True)
        self.members.setToolTip("Nearest the cluster's centre first; click one to open it on the Compare tab")
        self.members.itemClicked.connect(lambda item: self.memberClicked.emit(item.data(PathRole)))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.clusters, 3)
        lay.addWidget(self.caption)
        lay.addWidget(self.members, 2)

    def set_clusters(self, rows: Sequence[ClusterRow]) -> None:
        self.rows = list(rows)
        total = sum(r.size for r in self.rows)
        self.clusters.blockSignals(True)
        self.clusters.clear()
        for r in self.rows:
            item = QListWidgetItem(QIcon(QPixmap.fromImage(mean_map_picture(r))), row_text(r, total))
            item.setData(Qt.ItemDataRole.UserRole, r.index)
            item.setForeground(QColor("#20242c"))
            self.clusters.addItem(item)
        self.clusters.blockSignals(False)
        if self.rows:
            self.clusters.setCurrentRow(0)
        else:
            self._on_cluster(-1)

    def clear(self) -> None:
        self.set_clusters([])

    def _on_cluster(self, row: int) -> None:
        self.members.clear()
        if not (0 <= row < len(self.rows)):
            self.caption.setText("Members")
            self.clusterChosen.emit(-1)
            return
        r = self.rows[row]
        shown = r.members[:MEMBERS_SHOWN]
        more = f", the {len(shown)} nearest its centre shown" if len(r.members) > len(shown) else ""
        self.caption.setText(f"Cluster {r.index + 1}: {len(r.members)} members{more}")
        for path in shown:
            item = QListWidgetItem(Path(path).name)
            item.setData(PathRole, path)
            item.setToolTip(path)
            item.setText("")
            self._set_icon(item, path)
            self.members.addItem(item)
        self.clusterChosen.emit(r.index)

    def thumbnail_ready(self, path: str) -> None:
        """The thumbnail loader has `path` now: show it where it is listed."""
        for i in range(self.members.count()):
            item = self.members.item(i)
            if item.data(PathRole) == path:
                self._set_icon(item, path)

    def _set_icon(self, item: QListWidgetItem, path: str) -> None:
        img = self._thumbnail(path)
        if img is not None and not img.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(img)))

    def member_paths(self) -> list[str]:
        return [self.members.item(i).data(PathRole) for i in range(self.members.count())]
