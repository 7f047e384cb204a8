"""Near-duplicates across splits in the Training tab: the count from the run's split.json and
a dialog listing the pairs; opening a pair puts both pictures in the viewer."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)


def read_duplicates(run_dir: str | Path) -> tuple[dict | None, str]:
    """(the "duplicates" report of RUN_DIR/split.json or None, the data root)."""
    try:
        data = json.loads((Path(run_dir) / "split.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, ""
    return (data.get("duplicates") if isinstance(data, dict) else None), str(data.get("root", ""))


def summary(report: dict) -> str:
    n = int(report.get("cross_split_pair_count", 0))
    text = (f"{n} near-duplicate pair{'s' if n != 1 else ''} across splits"
            f" (Hamming distance \u2264 {report.get('threshold')} of 64 bits)")
    if report.get("removed"):
        text += f"; {len(report['removed'])} copies left out (one picture kept per group)"
    return text


class DuplicatePairsDialog(QDialog):
    open_pair = Signal(list)  # [path a, path b], absolute

    def __init__(self, report: dict, root: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates across splits")
        self.root = Path(root)
        pairs = report.get("cross_split_pairs") or []
        self.table = QTableWidget(len(pairs), 5)
        self.table.setHorizontalHeaderLabels(["Picture", "Split", "Near-duplicate", "Split", "Distance"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for row, p in enumerate(pairs):
            for col, value in enumerate((p["a"], p["a_split"], p["b"], p["b_split"], f"{p['distance']} bits")):
                self.table.setItem(row, col, QTableWidgetItem(str(value)))
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.pairs = pairs
        shown = len(pairs)
        total = int(report.get("cross_split_pair_count", shown))
        note = QLabel(f"{summary(report)}. Hash model: {report.get('hash_model')} (fingerprint version "
                      f"{report.get('fingerprint_version')})."
                      + (f" The {shown} closest are listed." if total > shown else "")
                      + " Double-click a pair to open both pictures.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(820, 420)

    def open_row(self, row: int) -> None:
        p = self.pairs[row]
        self.open_pair.emit([str(self.root / p["a"]), str(self.root / p["b"])])


class DuplicatesRow(QWidget):
    """"N near-duplicate pairs across splits  [Show pairs…]", shown once a run's split is known."""

    open_pair = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.report: dict | None = None
        self.root = ""
        self.label = QLabel()
        self.label.setObjectName("duplicatesState")
        self.button = QPushButton("Show pairs\u2026")
        self.button.clicked.connect(self.show_pairs)
        self.dialog: DuplicatePairsDialog | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.hide()

    def load(self, run_dir: str | Path) -> None:
        self.report, self.root = read_duplicates(run_dir)
        if self.report is None:
            self.hide()
            return
        self.label.setText(summary(self.report))
        self.button.setEnabled(bool(self.report.get("cross_split_pairs")))
        self.show()

    def clear(self) -> None:
        self.report = None
        self.hide()

    def count(self) -> int:
        return int(self.report.get("cross_split_pair_count", 0)) if self.report else 0

    def show_pairs(self) -> None:
        if not self.report:
            return
        self.dialog = DuplicatePairsDialog(self.report, self.root, self)
        self.dialog.open_pair.connect(self.open_pair)
        self.dialog.show()
