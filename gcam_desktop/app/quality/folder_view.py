"""The Quality tab's "This folder" page: Score / Cancel with progress, the per-model table of
means and 95 % intervals, the attention answer, and the filtered list of images."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QTableWidgetItem, QVBoxLayout, QWidget)

from gcam_desktop.app.quality.filters import FILTERS, filter_scores, quality_of
from gcam_desktop.app.quality.image_view import correct_mark, read_only_table

METRIC_COLUMNS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc", "average_drop",
                  "increase_in_confidence")
METRIC_TITLES = ("pointing", "energy in mask", "deletion AUC \u2193", "insertion AUC \u2191", "avg drop % \u2193",
                 "increase % \u2191")
PERCENT_METRICS = ("average_drop", "increase_in_confidence")


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
        self.table = read_only_table(["model", "images", "accuracy %", *METRIC_TITLES])
        self.answer = QLabel()
        self.answer.setWordWrap(True)
        self.answer.setTextFormat(Qt.TextFormat.MarkdownText)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        lay.addWidget(self.table, 2)
        lay.addWidget(self.answer)
        lay.addLayout(frow)
        lay.addWidget(self.image_list, 3)

    def clear(self, total: int) -> None:
        self.table.setRowCount(0)
        self.image_list.clear()
        self.answer.clear()
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)

    def set_running(self, running: bool, can_start: bool) -> None:
        self.score_button.setEnabled(can_start and not running)
        self.cancel_button.setEnabled(running)

    def show_summary(self, summary: dict, method: str) -> None:
        """evaluation.summarize's result: one row per model, and the attention answer."""
        from gcam_desktop.evaluation import format_interval  # the worker has loaded it by now

        self.table.setRowCount(len(summary["models"]))
        for row, m in enumerate(summary["models"]):
            b = m["methods"][method]
            cells = [m["name"], str(b["deletion_auc"]["n"]), format_interval(m["accuracy"], 100, 1)]
            cells += [format_interval(b[key], 1, 1 if key in PERCENT_METRICS else 3) for key in METRIC_COLUMNS]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.answer.setText(summary["answer"])

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
