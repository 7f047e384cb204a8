"""A combo box's method list grouped by family (explain/names.py METHOD_FAMILIES): each family
under a header that cannot be chosen (Qt's combo skips disabled items with the keys and the
wheel, and the open list shows them greyed), so the survey's four families read at a glance.
Used by the Compare tab's method box and the Families tab's two."""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox

from gcam_desktop.explain.names import METHOD_FAMILIES, method_label

OTHER = "Other"   # a method the engine has that no family lists (a newer engine)


def grouped(methods: Iterable[str]) -> list[tuple[str, list[str]]]:
    """(family label, its methods in the engine's order) for the families that have any."""
    methods = list(methods)
    family_of = {m: label for label, members in METHOD_FAMILIES for m in members}
    out = [(label, [m for m in methods if family_of.get(m) == label]) for label, _ in METHOD_FAMILIES]
    out.append((OTHER, [m for m in methods if m not in family_of]))
    return [(label, members) for label, members in out if members]


def fill_methods(box: QComboBox, methods: Iterable[str], want: str | None,
                 text: Callable[[str], str] = method_label) -> None:
    """Replace `box`'s items with `methods` under their family headers, selecting `want` (else
    the first method) without emitting in between; emits currentIndexChanged once if the chosen
    method changed. Headers carry no data: `box.currentData()` is always a method."""
    old = box.currentData()
    box.blockSignals(True)
    box.clear()
    model = box.model()
    for label, members in grouped(methods):
        box.addItem(label, None)
        if isinstance(model, QStandardItemModel):
            header: QStandardItem = model.item(box.count() - 1)
            header.setFlags(header.flags() & ~(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled))
            font = QFont(box.font())
            font.setBold(True)
            header.setFont(font)
            header.setToolTip(f"{label} methods")
        for m in members:
            box.addItem(text(m), m)
    i = box.findData(want) if want else -1
    box.setCurrentIndex(i if i >= 0 else first_method(box))
    box.blockSignals(False)
    if box.currentData() != old:
        box.currentIndexChanged.emit(box.currentIndex())


def first_method(box: QComboBox) -> int:
    """The index of the first method (not a header), or -1."""
    return next((i for i in range(box.count()) if box.itemData(i) is not None), -1)


def is_header(box: QComboBox, index: int) -> bool:
    return 0 <= index < box.count() and box.itemData(index) is None
