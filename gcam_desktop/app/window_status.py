"""The engine's state in the status bar (starting, loading models, computing, ready, failed),
the number of queued requests, and the Device box: which device the models run on."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox, QLabel, QStatusBar

from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.compare.explanation_controller import ExplanationController
from gcam_desktop.app.inference.messages import EngineInfo
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.slots.slot_manager import SlotManager

ENGINE_TEXT = {"loading": "Engine: loading\u2026", "failed": "Engine: failed"}


class EngineStatus(QObject):
    def __init__(self, service: InferenceService, slots: SlotManager, explanations: ExplanationController,
                 view: ComparisonView, settings: Settings, bar: QStatusBar, say: Callable[[str, int], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service, self.slots, self.explanations, self.view = service, slots, explanations, view
        self.settings, self.say = settings, say
        self.state, self.detail = "loading", ""
        self.engine_label = QLabel("Engine: starting\u2026")
        self.engine_label.setObjectName("engineState")
        self.queue_label = QLabel("")
        bar.addPermanentWidget(self.queue_label)
        bar.addPermanentWidget(self.engine_label)
        self.device_combo = QComboBox()   # joins the toolbar (window_menus)
        self.device_combo.setToolTip("Where the models run: auto picks CUDA, then MPS, then the CPU")
        self.device_combo.addItem(settings["device"], settings["device"])
        self.device_combo.setEnabled(False)
        self.device_combo.currentIndexChanged.connect(self._on_device_chosen)
        w = service.worker
        w.engine_state.connect(self._on_engine_state)
        w.engine_ready.connect(self._on_engine_ready)
        w.device_changed.connect(self._on_device_changed)
        w.started_request.connect(lambda _: self._update_queue())
        w.model_failed.connect(lambda *_: self.show())
        service.result_ready.connect(lambda _: self._update_queue())
        slots.changed.connect(self.show)
        explanations.results_changed.connect(self.show)

    def show(self) -> None:
        """"Engine: ready" only once the panels are: models still loading or maps still
        being computed are said as such."""
        if self.state == "ready":
            enabled = self.slots.enabled()
            ex = self.explanations
            waiting = [s.name for s in enabled if s.info is not None and ex.path and s.name not in ex.results]
            if any(s.loading for s in enabled):
                text, kind = "Engine: loading models\u2026", "loading"
            elif waiting:
                text, kind = "Engine: computing\u2026", "loading"
            else:
                text, kind = "Engine: ready", "ready"
        else:
            text, kind = ENGINE_TEXT.get(self.state, self.state), self.state
        label = self.engine_label
        label.setText(text)
        label.setToolTip(self.detail)
        if label.property("kind") != kind:
            label.setProperty("kind", kind)
            label.style().unpolish(label)
            label.style().polish(label)

    def _on_engine_state(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.show()
        if state == "failed":
            # Not a modal box: the window stays usable (image list, training) without an engine.
            self.say(detail, 0)
            for panel in self.view.panels.values():
                panel.set_error(detail)
        elif detail:
            self.say(detail, 6000)

    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine_label.setText(f"Engine: ready \u00b7 {info.device}")
        self.engine_label.setToolTip(f"torch {info.torch} loaded in {info.seconds:.1f} s")
        self.slots.set_archs(info.archs)
        combo = self.device_combo
        combo.blockSignals(True)
        combo.clear()
        for name in info.devices:
            combo.addItem(name, name)
        combo.setCurrentIndex(max(0, combo.findData(self.settings["device"])))
        combo.blockSignals(False)
        combo.setEnabled(True)
        self.explanations.engine_ready(info)

    def _on_device_chosen(self, _index: int) -> None:
        name = self.device_combo.currentData()
        if name:
            self.settings["device"] = name
            self.settings.save()
            self.service.set_device(name)
            self.say(f"Moving models to {name}\u2026", 0)

    def _on_device_changed(self, device: str, error: str) -> None:
        if error:   # not a modal box: this answers an asynchronous request
            self.say(error, 15000)
            # Show where the models really run: that device's entry, else "auto".
            self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(device)))
            self.device_combo.blockSignals(False)
        else:
            self.say(f"Models run on {device}", 5000)
        self.engine_label.setText(f"Engine: ready \u00b7 {device}")

    def _update_queue(self) -> None:
        n = self.service.worker.queued()
        self.queue_label.setText(f"{n} queued" if n else "")
