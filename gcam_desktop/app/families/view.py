"""The Families tab: the current image explained by one model with two methods, by default one
of each family the survey contrasts (Grad-CAM, a CAM method, and LRP, relevance propagation),
side by side with the original, and how much the two maps agree (top-20 % IoU and Spearman's
rank correlation, families/agreement.py). Where they agree, the region belongs to the model;
where they differ, to the methods.

The maps are asked of the inference service as the Compare tab's are, on two panels of their
own (ExplainRequest.panel), so the service's cache, the joining of equal requests and the
stopping of a long method on moving on work here too. The image, the class, the layer, the
colours and each method's options are the Compare tab's (its controls). Nothing is computed
while the tab is hidden.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.app.compare.explanation_controller import ExplanationController
from gcam_desktop.app.families.agreement import PairAgreement, pair_agreement
from gcam_desktop.app.inference.messages import ExplainRequest, ExplainResult, as_options
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.widgets.elided_combo import ElidedComboBox
from gcam_desktop.app.widgets.method_box import fill_methods, grouped
from gcam_desktop.explain.names import TOP_REGION, method_label
from gcam_desktop.explain.overlay import resize_map

PANEL_A, PANEL_B = "families \u00b7 A", "families \u00b7 B"   # their request channels
DEFAULT_A, DEFAULT_B = "gradcam", "lrp"

# (slot, panel title, architecture) of the active slots (SlotManager.active_panels).
PanelsSource = Callable[[], "list[tuple[str, str, str]]"]


class FamiliesTab(QWidget):
    choices_changed = Signal()  # a method was chosen; `remembered` holds it (the window saves it)

    def __init__(self, service: InferenceService, comparison: ExplanationController, controls: Controls,
                 panels: PanelsSource, remembered: dict | None = None, parent=None) -> None:
        super().__init__(parent)
        self.service, self.comparison, self.controls, self.panels = service, comparison, controls, panels
        # The two methods as last chosen (settings "families"); they become the choices once the
        # engine lists its methods, and each change is written back there.
        self.remembered = remembered if remembered is not None else {}
        self.model = ElidedComboBox(10)
        self.model.setToolTip("The model whose maps are compared")
        self.method_a = ElidedComboBox(10)
        self.method_b = ElidedComboBox(10)
        for box, which in ((self.method_a, "left"), (self.method_b, "right")):
            box.setToolTip(f"The method of the {which} map (any family)")
        self.agreement = QLabel("Agreement \u2014")
        self.agreement.setObjectName("agreement")
        self.agreement.setToolTip(f"IoU of the {TOP_REGION} regions of the two maps (1 = same region) and "
                                  f"Spearman's rank correlation of all their pixels (1 = same order)")
        self.agreement.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Its text never widens the window (a long note would push it past 1024 px): it takes
        # the room the row leaves, and is short enough to fit it at 1024 x 700.
        self.agreement.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.agreement.setMinimumWidth(self.agreement.fontMetrics().horizontalAdvance("IoU 0.00 \u00b7 \u03c1 0.00") + 8)
        self.view = ComparisonView()
        self.view.set_panels([(PANEL_A, "\u2014"), (PANEL_B, "\u2014")])
        row = QHBoxLayout()
        row.setSpacing(6)
        for text, widget in (("Model", self.model), ("Left", self.method_a), ("Right", self.method_b)):
            label = QLabel(text)
            label.setBuddy(widget)
            row.addWidget(label)
            row.addWidget(widget, 1)
        row.addSpacing(12)
        row.addWidget(self.agreement, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)

        self.results: dict[str, ExplainResult] = {}
        self.pair: PairAgreement | None = None
        self._methods: list[str] = []
        self._shown: dict[str, tuple] = {}     # panel -> (result key, colour map, opacity) it shows
        self._filling = False
        service.result_ready.connect(self._on_result)
        service.worker.started_request.connect(self._on_started)
        service.worker.progress.connect(self._on_progress)
        for box in (self.model, self.method_a, self.method_b):
            box.currentIndexChanged.connect(lambda _i: self.refresh())
        for box, key in ((self.method_a, "method_a"), (self.method_b, "method_b")):
            box.currentIndexChanged.connect(lambda _i, box=box, key=key: self._remember(key, box))
        self.refresh()

    def attach_canvases(self) -> None:
        """The panels' pyqtgraph canvases (after the window's first paint, as the Compare tab's)."""
        self.view.attach_canvases()

    # -- choices ------------------------------------------------------------------------------
    def _remember(self, key: str, box) -> None:
        if not self._filling and box.currentData():
            self.remembered[key] = box.currentData()
            self.choices_changed.emit()

    def _fill_choices(self) -> None:
        info = self.service.engine_info
        methods = list(info.methods) if info is not None else []
        if methods != self._methods:
            self._methods = methods
            a = self.method_a.currentData() or _known(methods, self.remembered.get("method_a"), DEFAULT_A)
            fill_methods(self.method_a, methods, a)
            b = (self.method_b.currentData() or _known(methods, self.remembered.get("method_b"), None)
                 or _other_family(methods, self.method_a.currentData(), DEFAULT_B))
            fill_methods(self.method_b, methods, b)
        shown = [(slot, title) for slot, title, _arch in self.panels()]
        items = [(title, slot) for slot, title in shown]
        if [(self.model.itemText(i), self.model.itemData(i)) for i in range(self.model.count())] != items:
            want = self.model.currentData()
            self.model.blockSignals(True)
            self.model.clear()
            for title, slot in items:
                self.model.addItem(title, slot)
            i = self.model.findData(want)
            self.model.setCurrentIndex(i if i >= 0 else 0 if items else -1)
            self.model.blockSignals(False)

    # -- requests -----------------------------------------------------------------------------
    def refresh(self, *_args) -> None:
        """Ask for the two maps of the current image (Compare tab), model and methods; only
        while the tab is shown (showEvent asks again). Hidden, a change of image stops what
        was asked for the old one."""
        if self._filling:
            return
        self._filling = True
        try:
            self._fill_choices()
        finally:
            self._filling = False
        path = self.comparison.path
        if not self.isVisible():
            if self.results and any(r.request.path != path for r in self.results.values()):
                self.cancel()
            return
        slot = self.model.currentData()
        info = self.service.models.get(slot) if slot else None
        display = self.comparison.display
        if display is not self.view.original.image:
            self.view.set_image(display)
            self._shown.clear()   # set_image cleared the maps
        if info is None or path is None or not self.service.ready:
            self._clear("Pick an image and load a model on the Compare tab" if self.service.ready
                        else "starting the engine\u2026")
            return
        v = self.controls.values()
        for panel_key, box in ((PANEL_A, self.method_a), (PANEL_B, self.method_b)):
            method = box.currentData()
            panel = self.view.panels[panel_key]
            panel.title.setText(method_label(method))   # the model is in the Model box and the caption
            req = ExplainRequest(slot=slot, path=path, image_key=self.comparison.image_key, model_token=info.token,
                                 method=method, layer=v.layer, target=v.target,
                                 options=as_options(self.controls.options_for(method)), panel=panel_key)
            old = self.results.get(panel_key)
            if old is not None and old.request.key == req.key:
                self._show(panel_key, old)   # the same map: shown again only if the colours changed
                continue
            self.results.pop(panel_key, None)
            self._shown.pop(panel_key, None)
            panel.clear_map()
            hit = self.service.request(req)
            if hit is not None:
                self.results[panel_key] = hit
                self._show(panel_key, hit)
            else:
                panel.set_status("queued\u2026", "busy")
        self._update_agreement()

    def cancel(self) -> None:
        """Stop asking (the tab was left, or the image changed while it is hidden)."""
        for key in (PANEL_A, PANEL_B):
            self.service.cancel_channel(key)

    def _clear(self, note: str) -> None:
        self.results.clear()
        self._shown.clear()
        for key in (PANEL_A, PANEL_B):
            self.service.cancel_channel(key)
            panel = self.view.panels[key]
            panel.clear_map()
            panel.set_status("")
            panel.predictions.set_note(note)
        self._update_agreement()

    def _ours(self, req: ExplainRequest) -> bool:
        return req.channel in (PANEL_A, PANEL_B) and self.service.is_latest(req)

    def _on_started(self, req: ExplainRequest) -> None:
        if self._ours(req):
            self.view.panels[req.channel].set_status("computing\u2026", "busy")

    def _on_progress(self, req: ExplainRequest, done: int, total: int) -> None:
        if self._ours(req):
            self.view.panels[req.channel].set_progress(done, total)

    def _on_result(self, res: ExplainResult) -> None:
        req = res.request
        if req.channel not in (PANEL_A, PANEL_B) or req.path != self.comparison.path:
            return
        self.results[req.channel] = res
        self._show(req.channel, res)
        self._update_agreement()

    # -- showing ------------------------------------------------------------------------------
    def _show(self, key: str, res: ExplainResult) -> None:
        panel = self.view.panels[key]
        v = self.controls.values()
        look = (res.request.key, v.colormap, v.opacity, self.comparison.display is not None)
        if self._shown.get(key) == look:
            return
        self._shown[key] = look
        if not res.ok:
            panel.set_error(res.error or "no map")
            return
        names = res.class_names
        target = names[res.target_class] if 0 <= res.target_class < len(names) else str(res.target_class)
        layer = f" \u00b7 {res.layer}" if res.layer else ""
        panel.subtitle.setText(f"{self.model.currentText()}{layer} \u00b7 {target}")
        panel.predictions.set_predictions(res.top, names, res.target_class, res.true_class)
        panel.set_status(f"{res.seconds * 1000:.0f} ms" if res.seconds else "cached", "")
        display = self.comparison.display
        lut_fn = self.comparison.lut_fn
        if display is not None and lut_fn is not None:
            lut = np.asarray(lut_fn(v.colormap), dtype=np.uint8)
            panel.set_map(resize_map(res.unnormalised(), display.shape[:2]), lut, (res.raw_min, res.raw_max))
            panel.set_opacity(v.opacity)

    def _update_agreement(self) -> None:
        a, b = self.results.get(PANEL_A), self.results.get(PANEL_B)
        self.pair = None
        if not (a and b and a.ok and b.ok):
            self.agreement.setText("Agreement \u2014")
            return
        if a.target_name != b.target_name:
            self.agreement.setText("Agreement \u2014 (different classes)")
            return
        self.pair = pair_agreement(a.map, b.map)
        rho = "\u2014" if math.isnan(self.pair.spearman) else f"{self.pair.spearman:.2f}"
        self.agreement.setText(f"{TOP_REGION} IoU <b>{self.pair.iou:.2f}</b> \u00b7 Spearman \u03c1 <b>{rho}</b>")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh()


def _known(methods: list[str], wanted: str | None, fallback: str | None) -> str | None:
    """`wanted` when the engine has it, else `fallback` when it has that."""
    return wanted if wanted in methods else fallback if fallback in methods else None


def _other_family(methods: list[str], chosen: str | None, preferred: str) -> str | None:
    """The right map's method: `preferred` when the engine has it, else the first method of a
    family other than the left one's."""
    if preferred in methods and preferred != chosen:
        return preferred
    for _label, members in grouped(methods):
        if chosen not in members:
            return members[0]
    return next((m for m in methods if m != chosen), None)
