"""The Quality tab's "This image" page: deletion and insertion curves per model, and a table
of prediction, AUCs, pointing game and energy in the mask, for the method and, below each
model's row, the three baseline maps that know nothing of the model (explain/baselines.py)."""

from __future__ import annotations

import math
from typing import Callable

import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


COLUMN_TIPS = (
    "The model scored",
    "Its prediction and probability (\u2713 / \u2717 against the folder's class name)",
    "Area under the deletion curve, 0..1: lower is better (removing the map's top pixels first "
    "makes the prediction fall fast)",
    "Area under the insertion curve, 0..1: higher is better (revealing the map's top pixels first "
    "brings the prediction back fast)",
    "Pointing game: hit when the map's maximum lies on the object mask; needs a mask",
    "Share of the map's energy inside the object mask, 0..1: higher is better; needs a mask",
)
FLAT_CURVE = 0.95  # an insertion curve that never drops below this is flat at the top
INSERTION_TIP = ("Insertion: the pixels the map rates highest are revealed first on a blurred picture. Rising "
                 "fast (large area, AUC) = the map found what the model relies on.")
INSERTION_FLAT_TITLE = "Insertion: flat, no separation"
INSERTION_FLAT_TIP = ("Every model's insertion curve stays near 1.0: the blurred picture alone already gives the "
                      "class, so this test cannot separate the models (or their maps) on this image. The "
                      "deletion curves and the mask figures still can.")


def insertion_cannot_separate(curves) -> bool:
    """True when every model's insertion curve stays near 1.0 from the first step: the blurred
    picture alone is enough for the prediction, so the test says nothing about the maps."""
    curves = [c for c in curves if c]
    return bool(curves) and all(min(c) >= FLAT_CURVE for c in curves)


def correct_mark(correct: bool | None) -> str:
    """' ✓' / ' ✗' after a prediction; nothing when the true class is unknown."""
    return "" if correct is None else (" \u2713" if correct else " \u2717")


def read_only_table(columns: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    # Compact rows: a method's row and its three baselines' rows per model, read without scrolling.
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
    return t


def _curve_plot(title: str, xlabel: str) -> pg.PlotWidget:
    w = pg.PlotWidget(title=title)
    w.setLabel("bottom", xlabel)
    w.setLabel("left", "target probability")
    w.setXRange(0, 1, padding=0.02)
    w.setYRange(0, 1, padding=0.02)
    w.showGrid(x=True, y=True, alpha=0.25)
    w.setMouseEnabled(x=False, y=False)
    w.addLegend(offset=(-10, 10))
    w.setMinimumSize(160, 140)
    return w


class ImageScoresView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.insertion_flat = False
        self.deletion_plot = _curve_plot("Deletion", "fraction of pixels removed")
        self.insertion_plot = _curve_plot("Insertion", "fraction of pixels revealed")
        plots = QHBoxLayout()
        plots.addWidget(self.deletion_plot)
        plots.addWidget(self.insertion_plot)
        self.table = read_only_table(["model", "prediction", "deletion AUC \u2193", "insertion AUC \u2191",
                                      "pointing", "energy in mask"])
        for col, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.deletion_plot.setToolTip(
            "Deletion: the pixels the map rates highest are removed first; the curve is the model's "
            "probability for the explained class as they go. Falling fast (small area, AUC) = the map found "
            "what the model relies on.")
        self.insertion_plot.setToolTip(INSERTION_TIP)
        lay = QVBoxLayout(self)
        lay.addLayout(plots, 3)
        lay.addWidget(self.table, 2)  # each model's method row and its three baselines' rows

    def clear(self) -> None:
        for plot in (self.deletion_plot, self.insertion_plot):
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.table.setRowCount(0)

    def show_score(self, score, method: str, label: Callable[[str, int], str]) -> None:
        """An ImageScore (gcam_desktop.evaluation) for `method`; label(model, class index) names a class."""
        self.clear()
        curves = [(ms.methods.get(method) or next(iter(ms.methods.values()))).insertion_curve
                  for ms in score.models.values()]
        self.insertion_flat = insertion_cannot_separate(curves)
        # Short: a plot title does not wrap, and a long one widened the plot past a 1024-px window.
        self.insertion_plot.setTitle(INSERTION_FLAT_TITLE if self.insertion_flat else "Insertion")
        self.insertion_plot.setToolTip((INSERTION_FLAT_TIP + "\n\n" if self.insertion_flat else "") + INSERTION_TIP)
        rows = []  # (model, map label, its scores, its prediction or None for a baseline row)
        for name, ms in score.models.items():
            rows.append((name, name, ms.methods.get(method) or next(iter(ms.methods.values())), ms))
            rows += [(name, text, ms.methods[key], None) for key, text in baseline_rows() if key in ms.methods]
        self.table.setRowCount(len(rows))
        for row, (name, text, m, ms) in enumerate(rows):
            if ms is not None:  # the method's curves; a baseline's stay in the table
                pen = pg.mkPen(PALETTE[len(self.deletion_plot.plotItem.listDataItems()) % len(PALETTE)], width=2)
                fr = [k / (len(m.deletion_curve) - 1) for k in range(len(m.deletion_curve))]
                self.deletion_plot.plot(fr, m.deletion_curve, pen=pen, name=f"{name} ({m.deletion_auc:.3f})")
                self.insertion_plot.plot(fr, m.insertion_curve, pen=pen, name=f"{name} ({m.insertion_auc:.3f})")
            pred = "" if ms is None else f"{label(name, ms.pred)} {ms.prob:.0%}{correct_mark(ms.correct)}"
            self._set_row(row, [text, pred, *_metric_cells(m)], None if ms is not None else
                          baseline_tip(text, name))

    def _set_row(self, row: int, cells: list[str], tip: str | None) -> None:
        """One table row; a baseline's (with `tip`) in grey italics, so the methods stand out."""
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if tip:
                mark_baseline(item, tip)
            self.table.setItem(row, col, item)


def _metric_cells(m) -> list[str]:
    point = ("no mask" if not math.isfinite(m.pointing_game) else "hit" if m.pointing_game >= 1 else "miss")
    energy = f"{m.energy_in_mask:.2f}" if math.isfinite(m.energy_in_mask) else "\u2013"
    return [f"{m.deletion_auc:.3f}", f"{m.insertion_auc:.3f}", point, energy]


def baseline_label(name: str) -> str:
    """A baseline map's row label: "Baseline: Sobel edges"."""
    from gcam_desktop.explain.baselines import BASELINE_LABELS  # torch: loaded by the worker by now

    return f"Baseline: {BASELINE_LABELS[name]}"


def baseline_rows() -> list[tuple[str, str]]:
    """(the key score_images stores a baseline's scores under, its row label), in the library's order."""
    from gcam_desktop.evaluation.scoring import baseline_key
    from gcam_desktop.explain.baselines import BASELINES

    return [(baseline_key(b), baseline_label(b)) for b in BASELINES]


def baseline_tip(label: str, model: str) -> str:
    return (f"{label}: a map that knows nothing of the model, scored with {model}'s forward passes and the same "
            f"metrics as the method above it. A method has to do better than this to show it explains the model.")


def mark_baseline(item: QTableWidgetItem, tip: str) -> None:
    font = item.font()
    font.setItalic(True)
    item.setFont(font)
    item.setForeground(QColor(110, 110, 110))
    item.setToolTip(tip)
