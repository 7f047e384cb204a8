"""The Quality tab's "This folder" page: Score / Cancel with progress, the per-model table of
means and 95 % intervals (the method's row, with whether it beats each baseline map, and the
baseline maps' own rows below it), the attention answer, the words for a method that does not
beat the edge detector, and the filtered list of images."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QScrollArea, QTableWidgetItem, QVBoxLayout, QWidget)

from gcam_desktop.app.quality.filters import FILTERS, filter_scores, quality_of
from gcam_desktop.app.quality.image_view import (baseline_label, baseline_tip, correct_mark, mark_baseline,
                                                 read_only_table)

METRIC_COLUMNS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc", "average_drop",
                  "increase_in_confidence")
METRIC_TITLES = ("pointing", "energy in mask", "deletion AUC \u2193", "insertion AUC \u2191", "avg drop % \u2193",
                 "increase % \u2191")
PERCENT_METRICS = ("average_drop", "increase_in_confidence")
BEATS_TITLE, BEATS_COLUMN = "vs baselines", 1
BEATS_TIP = ("Does the method beat each map that knows nothing of the model (random, centred Gaussian, Sobel "
             "edges)? Paired tests over the same images, Holm-adjusted over every model, method, baseline and "
             "metric. \u2713 beats it on every metric tested, \u2717 worse than it on at least one, ? not shown "
             "either way (no clear difference, or too few images disagree). Hover a row for the tests. "
             "The baselines' rows and these tests come when the folder is scored (or cancelled).")


class FolderScoresView(QWidget):
    imageActivated = Signal(str)        # the user double-clicked an image in the list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("No folder")
        self.score_button = QPushButton("Score folder")
        self.score_button.setToolTip("Score every image of the folder with every model (runs in the background)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.progress, 1)
        row.addWidget(self.score_button)
        row.addWidget(self.cancel_button)
        # The marks next to the model, where they are read without scrolling the wide table.
        self.table = read_only_table(["model", BEATS_TITLE, "images", "accuracy %", *METRIC_TITLES])
        self.table.horizontalHeaderItem(BEATS_COLUMN).setToolTip(BEATS_TIP)
        self.answer = QLabel()
        self.answer.setWordWrap(True)
        self.answer.setTextFormat(Qt.TextFormat.MarkdownText)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edges = QLabel()  # a method that does not beat the Sobel edges, in words
        self.edges.setObjectName("edgeStatements")
        self.edges.setWordWrap(True)
        self.edges.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A sentence per model with its tests: scrolled past a few lines, so the table keeps its rows.
        self.edges_area = QScrollArea()
        self.edges_area.setWidget(self.edges)
        self.edges_area.setWidgetResizable(True)
        self.edges_area.setFrameShape(QFrame.Shape.NoFrame)
        self.edges_area.setMaximumHeight(5 * self.fontMetrics().lineSpacing() + 4)
        self.edges_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.edges_area.setVisible(False)
        self.filter_box = QComboBox()
        self.filter_box.addItems(FILTERS)
        self.image_list = QListWidget()
        self.image_list.itemActivated.connect(lambda it: self.imageActivated.emit(it.data(Qt.ItemDataRole.UserRole)))
        frow = QHBoxLayout()
        frow.addWidget(QLabel("Show"))
        frow.addWidget(self.filter_box)
        frow.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.table, 3)  # each model's rows and its three baselines' rows
        lay.addWidget(self.answer)
        lay.addWidget(self.edges_area)
        lay.addLayout(frow)
        lay.addWidget(self.image_list, 2)

    def clear(self, total: int) -> None:
        self.table.setRowCount(0)
        self.image_list.clear()
        self.answer.clear()
        self.edges.clear()
        self.edges_area.setVisible(False)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)

    def set_running(self, running: bool, can_start: bool) -> None:
        self.score_button.setEnabled(can_start and not running)
        self.cancel_button.setEnabled(running)

    def show_summary(self, summary: dict, method: str) -> None:
        """evaluation.summarize's result (with baselines): per model the method's row with its marks
        against each baseline, then the baselines' rows; the attention answer; the words for a
        method that does not beat the edge detector."""
        from gcam_desktop.evaluation import METRIC_LABELS, edge_statements, format_interval  # loaded by now

        tests = summary.get("baseline_tests", [])
        rows = []  # (cells, tooltip, a baseline's row)
        for m in summary["models"]:
            b = m["methods"][method]
            mine = [r for r in tests if r["model"] == m["name"] and r["method"] == method]
            cells = [m["name"], beats_marks(mine), str(b["deletion_auc"]["n"]), format_interval(m["accuracy"], 100, 1)]
            rows.append(([*cells, *_intervals(b)], beats_tip(mine, method, m["name"]), False))
            for name, block in (m.get("baselines") or {}).items():
                label = baseline_label(name)
                rows.append(([label, "", str(block["deletion_auc"]["n"]), "", *_intervals(block)],
                             baseline_tip(label, m["name"]), True))
        self.table.setRowCount(len(rows))
        for row, (cells, tip, baseline) in enumerate(rows):
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if baseline:
                    mark_baseline(item, tip)
                elif col == BEATS_COLUMN:
                    item.setToolTip(tip)
                self.table.setItem(row, col, item)
        self.answer.setText(summary["answer"])
        words = edge_statements([r for r in tests if r["method"] == method],
                                {k: v[0] for k, v in METRIC_LABELS.items()})
        self.edges.setText("\n".join(words))
        self.edges_area.setVisible(bool(words))

    def show_list(self, scores: Sequence, method: str, label: Callable[[str, int], str]) -> None:
        """The images the filter box picks, each with every model's prediction and its quality."""
        self.image_list.clear()
        for s in filter_scores(scores, self.filter_box.currentText(), method):
            preds = ", ".join(f"{n}: {label(n, m.pred)}{correct_mark(m.correct)}" for n, m in s.models.items())
            item = QListWidgetItem(f"{Path(s.path).name}  \u2014  {preds}  \u2014  quality {quality_of(s, method):+.3f}")
            item.setData(Qt.ItemDataRole.UserRole, s.path)
            item.setToolTip(f"{s.path}\nquality = insertion AUC \u2212 deletion AUC, averaged over the models "
                            f"({quality_of(s, method):+.3f}; -1..1, higher = the maps point at what the "
                            f"models use; the lowest are listed first under 'lowest quality')")
            self.image_list.addItem(item)


def _intervals(block: dict) -> list[str]:
    from gcam_desktop.evaluation import format_interval

    return [format_interval(block[key], 1, 1 if key in PERCENT_METRICS else 3) for key in METRIC_COLUMNS]


def beat_mark(metrics: dict) -> str:
    """One baseline's mark from compare_baselines' per-metric verdicts: \u2713 beats it on every
    metric tested, \u2717 worse than it on one at least, ? neither shown (or nothing to test)."""
    from gcam_desktop.evaluation.baseline_tests import BEATS, WORSE

    verdicts = [m["verdict"] for m in metrics.values()]
    if any(v == WORSE for v in verdicts):
        return "\u2717"
    return "\u2713" if verdicts and all(v == BEATS for v in verdicts) else "?"


def beats_marks(rows: Sequence[dict]) -> str:
    """"beats: random ✓ centre ✓ edges ✗" for one model and method's compare_baselines rows."""
    return ("beats: " + " ".join(f"{r['baseline']} {beat_mark(r['metrics'])}" for r in rows)) if rows else ""


def beats_tip(rows: Sequence[dict], method: str, model: str) -> str:
    """Each baseline's tests: metric, verdict, the test with its raw and Holm-adjusted p."""
    from gcam_desktop.evaluation import METRIC_LABELS
    from gcam_desktop.evaluation.paired import p_text

    out = [f"{method} on {model} against each baseline map (paired over the same images; "
           f"Holm over every model, method, baseline and metric):"]
    for r in rows:
        out.append(f"{baseline_label(r['baseline'])}: {beat_mark(r['metrics'])}")
        out += [f"    {METRIC_LABELS[k][0]}: {m['verdict']} ({p_text(m)})" for k, m in r["metrics"].items()]
    return "\n".join(out) if rows else ""
