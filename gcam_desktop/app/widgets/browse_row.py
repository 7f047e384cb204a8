"""A path field with its Browse… button, as the forms of the Training tab and Batch export use."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QToolButton, QWidget


def with_browse(edit: QLineEdit, pick) -> QWidget:
    """`edit` with a Browse… button after it that calls `pick`."""
    w = QWidget()
    h = QHBoxLayout(w)
    h.setContentsMargins(0, 0, 0, 0)
    h.addWidget(edit, 1)
    b = QToolButton()
    b.setText("Browse\u2026")
    b.clicked.connect(pick)
    h.addWidget(b)
    return w
