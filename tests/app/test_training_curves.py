"""The loss plot's log axis: its tick labels never overlap, whatever the plot's height and the
losses' span (issue 23: pyqtgraph's own log axis printed "0.1 0.08 0.06" on top of each other)."""

from __future__ import annotations

import pytest

from gcam_desktop.app.training.curves import TrainingCurves
from qt_settle import settle


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _number(text: str) -> float:
    """A tick label's value: "0.05", "2", or pyqtgraph's "10³" and "2·10⁻⁵" forms."""
    if any(c in text for c in "⁰¹²³⁴⁵⁶⁷⁸⁹"):
        mantissa, _, power = text.rpartition("10")
        return float(mantissa.rstrip("·") or 1) * 10 ** int(power.translate(_SUPERSCRIPTS))
    return float(text)


def _epochs(first: float, last: float, n: int = 12) -> list[dict]:
    """epoch_end events with losses falling geometrically from `first` to `last`."""
    out = []
    for e in range(1, n + 1):
        loss = first * (last / first) ** ((e - 1) / (n - 1))
        out.append({"event": "epoch_end", "arch": "resnet50", "epoch": e, "epochs": n, "train_loss": loss,
                    "val_loss": loss * 1.1, "train_acc": 0.5, "val_acc": 0.5, "lr": 1e-3, "seconds": 1.0,
                    "images_per_s": 10.0})
    return out


def _labels(qtbot, first: float, last: float, height: int):
    """(rect, text) of each tick label the loss axis draws, top to bottom."""
    from PySide6.QtGui import QImage, QPainter

    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(900, height)
    curves.show()
    qtbot.waitExposed(curves)
    for ev in _epochs(first, last):
        curves.add_epoch(ev)
    curves.loss.plotItem.vb.autoRange()
    settle()
    axis = curves.loss.getAxis("left")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return sorted(((rect, text) for rect, _, text in texts), key=lambda t: t[0].top())


@pytest.mark.slow
@pytest.mark.parametrize("height", [160, 260, 420, 700])
@pytest.mark.parametrize("span", [(2.3, 0.05), (0.95, 0.6), (1000.0, 1e-4)], ids=["2.3-0.05", "narrow", "wide"])
def test_loss_axis_labels_do_not_overlap(qtbot, span, height):
    labels = _labels(qtbot, *span, height)
    assert len(labels) >= 2, labels
    for (upper, a), (lower, b) in zip(labels, labels[1:]):
        assert upper.bottom() <= lower.top(), f"{a!r} overlaps {b!r} at {height} px: {[t for _, t in labels]}"
    values = [_number(t) for _, t in labels]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)  # read top down


def test_a_loss_from_2_3_to_0_05_labels_its_decades(qtbot):
    texts = [t for _, t in _labels(qtbot, 2.3, 0.05, 260)]
    assert "1" in texts and "0.1" in texts, texts
    assert all(0.05 <= float(t) <= 2.3 for t in texts)
