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

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

ATTENTION_ARCHS = ("se_resnet50", "s_se_resnet50")
STAGES = ("layer1", "layer2", "layer3", "layer4")
BINS = 20
ARCH_COLORS = {"se_resnet50": (255, 127, 14), "s_se_resnet50": (44, 160, 44)}


@dataclass
class AttentionModel:
    """One slot's gates for the current image: {gate name: C float32 values}, or why there are none."""

    label: str
    arch: str
    slot: str
    gates: dict[str, np.ndarray] | None = None
    note: str = ""          # "computing…", an error


def attention_models(win) -> list[AttentionModel]:
    """The shown SE / s_se models and their gates for the current image, taken from the Compare
    tab's results (recorded during those explanations and cached with them)."""
    ex = win.explanations
    titles = dict(win.slots.panels())
    out = []
    for st in win.slots.active():
        if st.info.arch not in ATTENTION_ARCHS:
            continue
        res = ex.results.get(st.name)
        gates = res.gates if res is not None and res.ok and res.gates else None
        note = ""
        if gates is None and ex.path:
            note = res.error if res is not None and res.error else "computing\u2026"
        out.append(AttentionModel(titles.get(st.name, st.name), st.info.arch, st.name, gates, note))
    return out


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
        self.distances: dict[str, QLabel] = {}
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
            self._grid.addWidget(QLabel("<b>how far apart</b>"), 0, compare_col)
        for row, stage in enumerate(STAGES, start=1):
            self._grid.addWidget(QLabel(f"<b>{stage}</b>"), row, 0)
            for col, m in enumerate(self.models, start=1):
                self._grid.addWidget(self._cell(pg, stage, m), row, col)
            if len(self.models) > 1:
                lab = QLabel(self._distance_text(stage))
                lab.setWordWrap(True)
                self.distances[stage] = lab
                self._grid.addWidget(lab, row, compare_col)

    def _cell(self, pg, stage: str, m: AttentionModel) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setFixedHeight(96)
        plot.setXRange(0, 1, padding=0)
        plot.getAxis("left").setStyle(showValues=False)
        plot.getAxis("bottom").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        text = QLabel()
        text.setObjectName("attentionFigures")
        text.setWordWrap(True)
        curves = []
        names = [n for n in (m.gates or {}) if n.split(".")[0] == stage]
        if names:
            base = ARCH_COLORS.get(m.arch, (90, 90, 90))
            for i, name in enumerate(names):
                # SE's blocks from light to dark; s_se's single gate at full colour
                shade = 0.45 + 0.55 * (i + 1) / len(names)
                color = tuple(int(255 - (255 - c) * shade) for c in base)
                counts, edges = np.histogram(m.gates[name], bins=BINS, range=(0.0, 1.0))
                curves.append(plot.plot(edges, counts / max(1, counts.sum()), stepMode="center",
                                        pen=pg.mkPen(color, width=2), name=name))
            text.setText(self._figures_text(m.label, names))
        else:
            text.setText(m.note or "")
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

    def _distance_text(self, stage: str) -> str:
        rows = (self.figures or {}).get("stages", {}).get(stage, [])
        return "<br>".join(f"{r['a']} {r['gate_a']} vs {r['b']} {r['gate_b']}: {r['distribution']:.3f}"
                           for r in rows) or "–"


class AttentionTab(QWidget):
    """The tab: follows the Compare tab's image, slots and results."""

    def __init__(self, win, parent=None) -> None:
        super().__init__(parent)
        self.win = win
        self.view = AttentionView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        win.explanations.results_changed.connect(self.refresh)
        win.slots.changed.connect(self.refresh)
        win.image_list.current_changed.connect(lambda _path: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self.view.set_models(self.win.explanations.path, attention_models(self.win))
