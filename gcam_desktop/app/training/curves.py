"""Live training curves: loss and accuracy per architecture, training solid, validation dashed.

The two plots are made when first needed (tab shown or first event), so pyqtgraph stays out
of the window's start-up."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

ARCH_COLORS = {
    "resnet50": "#1f77b4", "se_resnet50": "#ff7f0e", "s_se_resnet50": "#2ca02c", "small_cnn": "#9467bd",
}
KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


class TrainingCurves(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(160)  # the window must fit 1024 x 700 with the whole form above
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.loss = self.acc = None
        self.data: dict[str, dict[str, list[float]]] = {}
        self.curves: dict[tuple[str, str], object] = {}

    def ensure(self) -> None:
        if self.loss is not None:
            return
        from gcam_desktop.app.common.pg_setup import pg
        from gcam_desktop.app.training.log_axis import LogAxis

        self.loss = pg.PlotWidget(title="Loss", axisItems={"left": LogAxis("left")})
        self.acc = pg.PlotWidget(title="Accuracy")
        self.acc.setToolTip("Solid: running accuracy over each epoch's training batches in train mode "
                            "(augmented, batch-norm statistics of each batch); on tiny data it flatters the "
                            "model. Dashed: validation, in eval mode, as the saved model behaves.")
        for plot, ylab in ((self.loss, "cross-entropy"), (self.acc, "accuracy")):
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylab)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMenuEnabled(False)
            self._layout.addWidget(plot)
        # Loss on a log axis: early spikes would flatten the rest of the curve otherwise.
        # Legends where the curves are not: top right for falling losses, bottom right for
        # rising accuracies.
        self.loss.setLogMode(y=True)
        self.loss.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.acc.addLegend(offset=(-10, -10), labelTextSize="8pt")
        self.acc.setYRange(0, 1, padding=0.02)
        for arch in list(self.data):
            self._redraw(arch)

    def showEvent(self, event) -> None:
        self.ensure()
        super().showEvent(event)

    def clear(self) -> None:
        if self.loss is not None:
            for plot in (self.loss, self.acc):
                plot.clear()
                if plot.plotItem.legend is not None:
                    plot.plotItem.legend.clear()
        self.data.clear()
        self.curves.clear()

    def _curve(self, arch: str, key: str):
        from gcam_desktop.app.common.pg_setup import pg

        c = self.curves.get((arch, key))
        if c is None:
            color = ARCH_COLORS.get(arch, "#7f7f7f")
            val = key.startswith("val")
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if val else Qt.PenStyle.SolidLine)
            plot = self.loss if key.endswith("loss") else self.acc
            # The training curve is the running figure in train mode (batch statistics,
            # flipped images), not what the saved model does on those images: named so.
            name = f"{arch} {'val' if val else 'train (train mode)'}"
            c = plot.plot([], [], pen=pen, name=name, symbol="o", symbolSize=4, symbolBrush=color, symbolPen=None)
            self.curves[(arch, key)] = c
        return c

    def add_epoch(self, ev: dict) -> None:
        arch = ev.get("arch", "?")
        d = self.data.setdefault(arch, {k: [] for k in ("epoch", *KEYS)})
        d["epoch"].append(float(ev.get("epoch", len(d["epoch"]) + 1)))
        for key in KEYS:
            v = ev.get(key)
            d[key].append(float(v) if isinstance(v, (int, float)) else float("nan"))
        if self.loss is not None:
            self._redraw(arch)

    def _redraw(self, arch: str) -> None:
        d = self.data[arch]
        for key in KEYS:
            pts = [(x, y) for x, y in zip(d["epoch"], d[key]) if y == y]   # NaN: no validation split
            if pts:
                self._curve(arch, key).setData([p[0] for p in pts], [p[1] for p in pts])

    def points(self, arch: str, key: str) -> int:
        """Points drawn for (arch, key); the data count while the plots are not made yet."""
        c = self.curves.get((arch, key))
        if c is None:
            return sum(1 for y in self.data.get(arch, {}).get(key, []) if y == y) if self.loss is None else 0
        xs, _ = c.getData()
        return 0 if xs is None else len(xs)
