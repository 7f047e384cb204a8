"""The Attention view: the SE gates of the current image, stage by stage, each attention model's
beside the other's, with the figures that sum a gate up.

One row per stage (layer1..layer4), one column per SE-ResNet50 / s_se-ResNet50 slot: the
distribution of the gate's channel weights (a histogram over 0..1; SE's blocks one curve each,
s_se's one shared gate), the mean, spread and share of channels the gate damps (< 0.5) or keeps
(> 0.9), and per stage how far the two models' gates lie apart. The gates come with the panels'
explanations (recorded on the way, cached with the maps); the plots are made when first shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from gcam_desktop.app.inference.messages import ExplainResult
from gcam_desktop.app.widgets.elided_label import ElidedLabel
from gcam_desktop.models.names import ATTENTION_ARCHS

STAGES = ("layer1", "layer2", "layer3", "layer4")
BINS = 20
PLOT_HEIGHT = 104
X_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
DISTANCE_MAX_WIDTH = 240     # wider sentences elide (whole in the tooltip)
ARCH_COLORS = {"se_resnet50": (255, 127, 14), "s_se_resnet50": (44, 160, 44)}


@dataclass
class AttentionModel:
    """One slot's gates for the current image: {gate name: C float32 values}, or why there are none."""

    label: str
    arch: str
    slot: str
    gates: dict[str, np.ndarray] | None = None
    note: str = ""          # "computing…", an error


def attention_models(path: str | None, results: Mapping[str, ExplainResult],
                     panels: Iterable[tuple[str, str, str]]) -> list[AttentionModel]:
    """The shown SE / s_se models and their gates for the image at `path`, taken from the Compare
    tab's `results` (recorded during those explanations and cached with them). `panels`:
    (slot, panel title, architecture) of the active slots."""
    out = []
    for slot, title, arch in panels:
        if arch not in ATTENTION_ARCHS:
            continue
        res = results.get(slot)
        gates = res.gates if res is not None and res.ok and res.gates else None
        note = ""
        if gates is None and path:
            note = res.error if res is not None and res.error else "computing\u2026"
        out.append(AttentionModel(title, arch, slot, gates, note))
    return out


# What the tab shows, asked for at every refresh: the current image and its attention models.
AttentionSource = Callable[[], "tuple[str | None, list[AttentionModel]]"]


class AttentionView(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.status = QLabel()
        self.status.setObjectName("attentionStatus")
        self.status.setWordWrap(True)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._grid_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.image: str | None = None
        self.models: list[AttentionModel] = []
        self.figures: dict | None = None
        self.cells: dict[tuple[str, str], dict] = {}   # (stage, label) -> {"plot", "curves", "text"}
        self.distances: dict[str, list[ElidedLabel]] = {}   # stage -> one line per pair of models
        self._dirty = True
        self.set_models(None, [])

    # -- data ------------------------------------------------------------------------------
    def set_models(self, image: str | None, models: list[AttentionModel]) -> None:
        signature = (image, [(m.label, m.arch, id(m.gates), m.note) for m in models])
        if signature == getattr(self, "_signature", None):
            return  # results_changed fires once per panel: redraw only what changed
        self._signature = signature
        self.image, self.models = image, list(models)
        ready = {m.label: m.gates for m in self.models if m.gates}
        self.figures = None
        if ready:
            import torch  # loaded by the worker before any result with gates exists

            from gcam_desktop.explain.attention_figures import attention_figures

            self.figures = attention_figures(
                {label: {n: torch.from_numpy(np.asarray(g, dtype=np.float32)) for n, g in gs.items()}
                 for label, gs in ready.items()},
                image=image, archs={m.label: m.arch for m in self.models})
        if not self.models:
            self.status.setText("No attention to show: load an SE-ResNet50 or s_se-ResNet50 into a slot. "
                                "(ResNet50 has no attention gates.)")
        elif image is None:
            self.status.setText("Pick an image to see its attention gates.")
        else:
            waiting = [f"{m.label}: {m.note}" for m in self.models if not m.gates and m.note]
            self.status.setText(
                "Channel weights of each SE gate for this image (0 = channel suppressed, 1 = passed on). "
                "SE-ResNet50 has one gate per block, s_se-ResNet50 one per stage, shared by its blocks."
                + ("  " + "; ".join(waiting) if waiting else ""))
        self._dirty = True
        if self.isVisible():
            self._rebuild()

    def showEvent(self, event) -> None:
        if self._dirty:
            self._rebuild()
        super().showEvent(event)

    # -- drawing ---------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self._dirty = False
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.cells.clear()
        self.distances.clear()
        if not self.models:
            return
        from gcam_desktop.app.common.pg_setup import pg

        for col, m in enumerate(self.models, start=1):
            head = QLabel(f"<b>{m.label}</b>")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._grid.addWidget(head, 0, col)
        compare_col = len(self.models) + 1
        if len(self.models) > 1:
            head = QLabel("<b>how far apart</b>")
            head.setToolTip("Per stage, the distance between the two models' gate values: the mean gap "
                            "between their sorted channel weights (Wasserstein-1, 0 = the same distribution)")
            self._grid.addWidget(head, 0, compare_col)
        for row, stage in enumerate(STAGES, start=1):
            self._grid.addWidget(QLabel(f"<b>{stage}</b>"), row, 0)
            for col, m in enumerate(self.models, start=1):
                self._grid.addWidget(self._cell(pg, stage, m), row, col)
            if len(self.models) > 1:
                self._grid.addWidget(self._distance_cell(stage), row, compare_col)

    def _cell(self, pg, stage: str, m: AttentionModel) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setFixedHeight(PLOT_HEIGHT)
        # A little padding: the labels at 0 and 1 sit on the axis' ends, where pyqtgraph hides
        # a label that sticks out (it showed "0.5" alone).
        plot.setXRange(0, 1, padding=0.03)
        bottom = plot.getAxis("bottom")
        bottom.setTicks([[(x, f"{x:g}") for x in X_TICKS]])
        bottom.setStyle(hideOverlappingLabels=8)
        plot.getAxis("left").setWidth(38)
        plot.setToolTip("x: channel weight of the gate (0 = suppressed, 1 = passed on); "
                        "y: share of the gate's channels in each bin")
        text = QLabel()
        text.setObjectName("attentionFigures")
        text.setWordWrap(True)
        curves = []
        names = [n for n in (m.gates or {}) if n.split(".")[0] == stage]
        top = 0.0
        if names:
            base = ARCH_COLORS.get(m.arch, (90, 90, 90))
            for i, name in enumerate(names):
                # SE's blocks from light to dark; s_se's single gate at full colour
                shade = 0.45 + 0.55 * (i + 1) / len(names)
                color = tuple(int(255 - (255 - c) * shade) for c in base)
                counts, edges = np.histogram(m.gates[name], bins=BINS, range=(0.0, 1.0))
                share = counts / max(1, counts.sum())
                top = max(top, float(share.max()))
                curves.append(plot.plot(edges, share, stepMode="center", pen=pg.mkPen(color, width=2), name=name))
            text.setText(self._figures_text(m.label, names))
        else:
            text.setText(m.note or "")
        ticks = share_ticks(top)
        plot.setYRange(0, ticks[-1][0], padding=0.05)
        plot.getAxis("left").setTicks([ticks])
        layout.addWidget(plot)
        layout.addWidget(text)
        self.cells[(stage, m.label)] = {"plot": plot, "curves": curves, "text": text, "gates": names}
        return box

    def _figures_text(self, label: str, names: list[str]) -> str:
        gates = self.figures["models"][label]["gates"]
        rows = []
        for n in names:
            s = gates[n]
            rows.append(f"{n}: mean {s['mean']:.2f}, spread {s['spread']:.2f}, "
                        f"damped {s['damped']:.0%}, kept {s['kept']:.0%}")
        return "<br>".join(rows)

    def _distance_cell(self, stage: str) -> QWidget:
        """One line per pair of models, never wrapped inside a name: the gates' names (the models
        head the columns; named too when there are more than two), elided with the whole
        sentence in the tooltip where the column is too narrow."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        rows = (self.figures or {}).get("stages", {}).get(stage, [])
        labels = []
        for r in rows:
            whole = f"{r['a']} {r['gate_a']} vs {r['b']} {r['gate_b']}: {r['distribution']:.3f}"
            short = (f"{r['gate_a']} vs {r['gate_b']}: {r['distribution']:.3f}" if len(self.models) == 2
                     else whole)
            lab = ElidedLabel(short)
            lab.setToolTip(whole)
            lab.setMinimumWidth(min(DISTANCE_MAX_WIDTH, lab.sizeHint().width()))
            labels.append(lab)
            layout.addWidget(lab)
        if not labels:
            layout.addWidget(QLabel("\u2013"))
        layout.addStretch(1)
        self.distances[stage] = labels
        return box


def share_ticks(top: float) -> list[tuple[float, str]]:
    """Ticks for the share of channels, 0 to just above `top`, labelled in per cent."""
    top = min(1.0, max(top, 0.05))
    step = next(s for s in (0.05, 0.1, 0.2, 0.25, 0.5) if top / s <= 3)
    n = int(np.ceil(top / step - 1e-9))
    return [(round(k * step, 4), f"{k * step:.0%}") for k in range(n + 1)]


class AttentionTab(QWidget):
    """The tab: shows what `source` gives; `refresh` is called (by the main window) whenever the
    Compare tab's image, slots or results change."""

    def __init__(self, source: AttentionSource, parent=None) -> None:
        super().__init__(parent)
        self.source = source
        self.view = AttentionView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.refresh()

    def refresh(self, *_args) -> None:
        self.view.set_models(*self.source())
