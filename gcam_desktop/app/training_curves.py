"""Live training curves: loss and accuracy per architecture, training solid, validation dashed."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

ARCH_COLORS = {
    "resnet50": "#1f77b4", "se_resnet50": "#ff7f0e", "s_se_resnet50": "#2ca02c", "small_cnn": "#9467bd",
}


class TrainingCurves(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.loss = pg.PlotWidget(title="Loss")
        self.acc = pg.PlotWidget(title="Accuracy")
        for plot, ylab in ((self.loss, "cross-entropy"), (self.acc, "accuracy")):
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylab)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
            plot.setMenuEnabled(False)
            plot.setMinimumHeight(160)
        self.acc.setYRange(0, 1, padding=0.02)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss)
        layout.addWidget(self.acc)
        self.data: dict[str, dict[str, list[float]]] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}

    def clear(self) -> None:
        for plot in (self.loss, self.acc):
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.data.clear()
        self.curves.clear()

    def _curve(self, arch: str, key: str) -> pg.PlotDataItem:
        c = self.curves.get((arch, key))
        if c is None:
            color = ARCH_COLORS.get(arch, "#7f7f7f")
            val = key.startswith("val")
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if val else Qt.PenStyle.SolidLine)
            plot = self.loss if key.endswith("loss") else self.acc
            name = f"{arch} {'val' if val else 'train'}"
            c = plot.plot([], [], pen=pen, name=name, symbol="o", symbolSize=4, symbolBrush=color, symbolPen=None)
            self.curves[(arch, key)] = c
        return c

    def add_epoch(self, ev: dict) -> None:
        arch = ev.get("arch", "?")
        d = self.data.setdefault(arch, {k: [] for k in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")})
        d["epoch"].append(float(ev.get("epoch", len(d["epoch"]) + 1)))
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            v = ev.get(key)
            d[key].append(float(v) if isinstance(v, (int, float)) else float("nan"))
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            ys = d[key]
            if all(y != y for y in ys):  # all NaN: e.g. no validation split
                continue
            pts = [(x, y) for x, y in zip(d["epoch"], ys) if y == y]
            self._curve(arch, key).setData([p[0] for p in pts], [p[1] for p in pts])

    def points(self, arch: str, key: str) -> int:
        c = self.curves.get((arch, key))
        if c is None:
            return 0
        xs, _ = c.getData()
        return 0 if xs is None else len(xs)
