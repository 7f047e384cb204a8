"""The affinity graph's smallest Laplacian eigenvalues, with the eigengap marked: k groups that
are loosely joined give k eigenvalues near 0 and then a jump, so the largest jump between the
k-th and the (k+1)-th eigenvalue suggests k clusters. A user's k that differs is marked too."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gcam_desktop.app.common.pg_setup import pg

GAP_COLOUR = "#d55e00"
TIP = ("The smallest eigenvalues of the maps' nearest-neighbour graph (its normalised Laplacian), "
       "numbered from 1. k groups that are only loosely joined give k values near 0, then a jump: "
       "the largest jump (orange) suggests k. Dashed grey: the k you chose instead.")


class EigenPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(title="Eigenvalues")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "index")
        self.plot.setToolTip(TIP)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#3b4250", width=1), symbol="o", symbolSize=6,
                                    symbolBrush="#3b4250", symbolPen=None)
        self.gap = self.plot.plot([], [], pen=pg.mkPen(GAP_COLOUR, width=3))
        # Between the k-th and the (k+1)-th eigenvalue: x = k + 0.5
        self.gap_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(GAP_COLOUR, width=1),
                                          label="eigengap: k = {value:.0f}", labelOpts={"position": 0.85, "color": GAP_COLOUR})
        self.chosen_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#7f7f7f", style=Qt.PenStyle.DashLine))
        for line in (self.gap_marker, self.chosen_marker):
            line.hide()
            self.plot.addItem(line)
        self.eigengap_k: int | None = None
        self.k: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def show_spectrum(self, eigenvalues, eigengap_k: int, k: int) -> None:
        values = np.asarray(eigenvalues, dtype=float).reshape(-1)
        xs = np.arange(1, len(values) + 1)
        self.eigengap_k, self.k = int(eigengap_k), int(k)
        self.curve.setData(xs, values)
        if 1 <= eigengap_k < len(values):
            self.gap.setData([eigengap_k, eigengap_k + 1], values[eigengap_k - 1:eigengap_k + 1])
        else:
            self.gap.setData([], [])
        self._place(self.gap_marker, eigengap_k, len(values))
        self.gap_marker.label.setFormat(f"eigengap: k = {eigengap_k}")
        self._place(self.chosen_marker, k if k != eigengap_k else None, len(values))
        self.plot.getAxis("bottom").setTicks([[(int(x), str(int(x))) for x in xs]])
        self.plot.setXRange(0.5, max(2, len(values), k + 1, eigengap_k + 1) + 0.5, padding=0)
        top = float(values.max()) if len(values) else 1.0
        self.plot.setYRange(0, max(top, 1e-6) * 1.1, padding=0)

    @staticmethod
    def _place(line, k: int | None, _n: int) -> None:
        if k is None or k < 1:
            line.hide()
            return
        line.setValue(k + 0.5)
        line.show()

    def clear(self) -> None:
        self.curve.setData([], [])
        self.gap.setData([], [])
        self.gap_marker.hide()
        self.chosen_marker.hide()
        self.eigengap_k = self.k = None

    def marker_k(self) -> int | None:
        """The k the eigengap marker stands at (tests read it): the line sits half an index right of it."""
        return int(np.floor(self.gap_marker.value())) if self.gap_marker.isVisible() else None
