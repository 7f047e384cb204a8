"""The Sanity section's cascade curves: one plot per model, one line per method, the similarity
of each map to the original's against how far down the model has been randomised."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

from gcam_desktop.app.common.pg_setup import pg
from gcam_desktop.app.quality.image_view import PALETTE
from gcam_desktop.app.quality.sanity_run import MEASURE_LABELS

ORIGINAL = "orig."  # the first point: the loaded model, similarity 1 by definition
CURVES_TIP = ("Similarity of each method's map to the original one as the weights are re-initialised from the "
              "top down (fc, then layer4, ...). A map that stays similar once the top of the network is random "
              "depends little on what the model learned. Dashed: the pass threshold (Spearman {t} after {s}).")


def _plot(title: str, measure: str) -> pg.PlotWidget:
    w = pg.PlotWidget(title=title)
    w.setLabel("left", MEASURE_LABELS.get(measure, measure))
    w.setYRange(-0.25, 1.0, padding=0.02)
    w.showGrid(x=False, y=True, alpha=0.25)
    w.setMouseEnabled(x=False, y=False)
    w.setMenuEnabled(False)
    w.hideButtons()
    w.setMinimumSize(150, 120)
    return w


class SanityCurves(QWidget):
    """Plots made per model when results arrive; `show_results` redraws them all."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}

    def clear(self) -> None:
        for plot in self.plots.values():
            self._layout.removeWidget(plot)
            plot.setParent(None)
            plot.deleteLater()
        self.plots = {}

    def show_results(self, results: dict[tuple[str, str], object], models: list[str], methods: list[str],
                     measure: str) -> None:
        """results: (model, method) -> MethodSanity of one image; `measure` one of MEASURE_LABELS."""
        from gcam_desktop.explain.names import method_label
        from gcam_desktop.explain.sanity import PASS_STAGE, PASS_THRESHOLD

        self.clear()
        self.setToolTip(CURVES_TIP.format(t=PASS_THRESHOLD, s=PASS_STAGE))
        for i, model in enumerate(models):
            plot = _plot(model, measure)
            if i == 0:
                plot.addLegend(offset=(4, -4), labelTextSize="8pt", verSpacing=-6)
            stages: list[str] = []
            for j, method in enumerate(methods):
                s = results.get((model, method))
                if s is None:
                    continue
                stages = [step.stage for step in s.cascade]
                ys = [1.0] + [_value(getattr(step.input_res, measure)) for step in s.cascade]
                pen = pg.mkPen(PALETTE[j % len(PALETTE)], width=2)
                plot.plot(list(range(len(ys))), ys, pen=pen, name=method_label(method), symbol="o",
                          symbolSize=5, symbolBrush=PALETTE[j % len(PALETTE)], symbolPen=None, connect="finite")
            labels = [ORIGINAL] + stages
            plot.getAxis("bottom").setTicks([list(enumerate(labels))])
            plot.setXRange(0, max(1, len(labels) - 1), padding=0.04)
            if measure == "spearman" and PASS_STAGE in stages:
                plot.addItem(pg.InfiniteLine(PASS_THRESHOLD, angle=0, pen=pg.mkPen("#7f7f7f", style=Qt.PenStyle.DashLine)))
                plot.addItem(pg.InfiniteLine(1 + stages.index(PASS_STAGE), angle=90,
                                             pen=pg.mkPen("#b0b0b0", style=Qt.PenStyle.DotLine)))
            self.plots[model] = plot
            self._layout.addWidget(plot)


def _value(v: float) -> float:
    return v if v is not None and math.isfinite(v) else math.nan
