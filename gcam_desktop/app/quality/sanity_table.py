"""The Sanity section's summary table: per model and method, the rank correlation left once the
cascade has randomised layer4, the pass / fail badge of docs/adr/0018's rule, and whether the
map depends on the explained class."""

from __future__ import annotations

import math
from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem

from gcam_desktop.app.quality.image_view import read_only_table
from gcam_desktop.app.quality.sanity_run import SanityRow

COLUMNS = ("model", "method", "\u03c1 after\nlayer4", "verdict", "class")  # two lines: room for the name
BADGES = {"pass": ("\u2713 pass", "#d7f0d9"), "fail": ("\u2717 fail", "#f6d5d3"), "no verdict": ("no verdict", "#e7eaee")}


def column_tips() -> list[str]:
    from gcam_desktop.explain.sanity import CLASS_THRESHOLD, PASS_STAGE, PASS_THRESHOLD

    return [
        "The model checked (its weights are copied; the loaded model is never changed)",
        "The explanation method",
        f"Spearman rank correlation of the map with the original one once the cascade has re-initialised "
        f"everything down to and including {PASS_STAGE} (mean over the images checked): low = the map "
        f"depends on what the model learned",
        f"Pass when that correlation is below {PASS_THRESHOLD} (docs/adr/0018). 'no verdict': the model has "
        f"no {PASS_STAGE} (its curves are still shown)",
        f"Class sensitivity: the map for the predicted class against the map for the least likely class. "
        f"Rank correlation {CLASS_THRESHOLD} or more = nearly the same map, not explaining the class",
    ]


def make_table():
    table = read_only_table(list(COLUMNS))
    for col, tip in enumerate(column_tips()):
        table.horizontalHeaderItem(col).setToolTip(tip)
    # The model's name takes what is left (elided, whole on hover): no sideways scrolling in half
    # a 1024-px window; compact rows, so 3 models x 3 methods show with little scrolling.
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    return table


def row_cells(row: SanityRow) -> list[tuple[str, str, str | None]]:
    """(text, tooltip, background colour or None) per column."""
    from gcam_desktop.explain.names import method_label

    many = row.images > 1
    if not row.images:
        return [(row.model, "", None), (method_label(row.method), "", None),
                ("\u2013", "", None), ("error", "\n".join(row.errors), "#f6d5d3"), ("\u2013", "", None)]
    rho = "\u2013" if math.isnan(row.after_layer4) else f"{row.after_layer4:.2f}"
    text, colour = BADGES[row.verdict]
    if many and row.verdict != "no verdict":
        text += f" ({row.passed}/{row.images})"
    verdict_tip = (f"passes on {row.passed} of {row.images} image(s); the badge applies the rule to the mean"
                   if row.verdict != "no verdict" else "this model has no layer4: curves only, no verdict")
    if row.class_images:
        explains = row.explains_class * 2 > row.class_images
        cls = "\u2713 explains" if explains else "\u2717 same map"
        if many:
            cls += f" ({row.explains_class}/{row.class_images})"
        cls_tip = (f"predicted vs least likely class: Spearman {row.class_rho:.2f} (mean over "
                   f"{row.class_images} image(s)); explains the class on {row.explains_class}")
    else:
        cls, cls_tip = "\u2013", ""
    errors = ("\n" + "\n".join(row.errors)) if row.errors else ""
    return [(row.model, row.model, None), (method_label(row.method), row.method, None),
            (rho, f"over {row.images} image(s){errors}", None), (text, verdict_tip, colour), (cls, cls_tip, None)]


def fill_table(table, rows: Sequence[SanityRow]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, (text, tip, colour) in enumerate(row_cells(row)):
            item = QTableWidgetItem(text)
            if tip:
                item.setToolTip(tip)
            if colour:
                item.setBackground(QBrush(QColor(colour)))
            table.setItem(r, c, item)
