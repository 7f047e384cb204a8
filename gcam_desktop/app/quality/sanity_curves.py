"""The Sanity section's cascade curves: one plot per model, one line per method, the similarity
of each map to the original's against how far down the model has been randomised."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gcam_desktop.app.common.pg_setup import pg
from gcam_desktop.app.quality.image_view import PALETTE
from gcam_desktop.app.quality.sanity_run import MEASURE_LABELS

PLACEHOLDER = "Check this image: a plot per model appears here, a line per method"
ORIGINAL = "orig."  # the first point: the loaded model, similarity 1 by definition
CURVES_TIP = ("Similarity of each method's map to the original one as the weights are re-initialised from the "
              "top down (fc, then layer4, ...). A map that stays similar once the top of the network is random "
              "depends little on what the model learned. Dashed: the pass threshold (Spearman {t} after {s}).")


def _plot(title: str, measure: str) -> pg.PlotWidget:
    w = pg.PlotWidget(title=title)
    w.setLabel("left", MEASURE_LABELS.get(measure, measure))
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
        # One legend for all the plots (the methods are the same in each), above them: inside a
        # plot it covered the curves.
        self.legend = QLabel()
        self.legend.setObjectName("sanityLegend")
        self.legend.setText(PLACEHOLDER)
        self._layout = QHBoxLayout()
        self._layout.setContentsMargins(0, 0, 0, 0)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.legend)
        outer.addLayout(self._layout, 1)
        self.plots: dict[str, pg.PlotWidget] = {}

    def clear(self) -> None:
        for plot in self.plots.values():
            self._layout.removeWidget(plot)
            plot.setParent(None)
            plot.deleteLater()
        self.plots = {}
        self.legend.setText(PLACEHOLDER)

    def show_results(self, results: dict[tuple[str, str], object], models: list[str], methods: list[str],
                     measure: str) -> None:
        """results: (model, method) -> MethodSanity of one image; `measure` one of MEASURE_LABELS."""
        from gcam_desktop.explain.names import method_label
        from gcam_desktop.explain.sanity import PASS_STAGE, PASS_THRESHOLD

        self.clear()
        self.setToolTip(CURVES_TIP.format(t=PASS_THRESHOLD, s=PASS_STAGE))
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{_hex(PALETTE[j % len(PALETTE)])}'>\u25a0</span>&nbsp;{method_label(m)}"
            for j, m in enumerate(methods)))
        for model in models:
            plot = _plot(model, measure)
            stages: list[str] = []
            low = 0.0
            for j, method in enumerate(methods):
                s = results.get((model, method))
                if s is None:
                    continue
                stages = [step.stage for step in s.cascade]
                ys = [1.0] + [_value(getattr(step.input_res, measure)) for step in s.cascade]
                low = min([low] + [y for y in ys if math.isfinite(y)])
                pen = pg.mkPen(PALETTE[j % len(PALETTE)], width=2)
                plot.plot(list(range(len(ys))), ys, pen=pen, name=method_label(method), symbol="o",
                          symbolSize=5, symbolBrush=PALETTE[j % len(PALETTE)], symbolPen=None, connect="finite")
            labels = [ORIGINAL] + stages
            plot.getAxis("bottom").setTicks([list(enumerate(labels))])
            # half a step either side: the first and last tick labels ("orig.", "stem") were cut off
            plot.setXRange(-0.5, max(1, len(labels) - 1) + 0.5, padding=0)
            # room above 1.0 and below the lowest point: a tick label at the very edge is not drawn
            plot.setYRange(max(-1.0, math.floor(low * 4) / 4) - 0.1, 1.1, padding=0)
            if measure == "spearman" and PASS_STAGE in stages:
                plot.addItem(pg.InfiniteLine(PASS_THRESHOLD, angle=0, pen=pg.mkPen("#7f7f7f", style=Qt.PenStyle.DashLine)))
                plot.addItem(pg.InfiniteLine(1 + stages.index(PASS_STAGE), angle=90,
                                             pen=pg.mkPen("#b0b0b0", style=Qt.PenStyle.DotLine)))
            self.plots[model] = plot
            self._layout.addWidget(plot)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def _value(v: float) -> float:
    return v if v is not None and math.isfinite(v) else math.nan
