"""The model slots: which checkpoint each holds, kept in step with the worker and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.slots.model_card import SlotCard
from gcam_desktop.app.slots.weights_download import WeightsDownloader
from gcam_desktop.models.knowledge import union_of_classes
from gcam_desktop.models.pretrained_refs import CHOICES, absolute_ref, is_pretrained_ref, pretrained_arch
from gcam_desktop.models.names import ARCHS, arch_label
from gcam_desktop.app.inference.messages import ModelInfo
from gcam_desktop.app.common.settings import SLOT_NAMES, Settings



@dataclass
class SlotState:
    name: str
    arch: str
    enabled: bool
    checkpoint: str | None = None    # the file asked for most recently
    info: ModelInfo | None = None    # what the worker holds now
    loading: str | None = None
    error: str | None = None


class SlotManager(QObject):
    changed = Signal()                 # panels to show, or their models, changed
    message = Signal(str, int)         # status bar text, timeout ms

    def __init__(self, service: InferenceService, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.states: dict[str, SlotState] = {}
        self.cards: dict[str, SlotCard] = {}
        self.widget = QWidget()
        self.widget.setObjectName("slotsBar")
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for saved in settings["slots"]:
            st = SlotState(saved["name"], saved["arch"], bool(saved["enabled"]), saved.get("checkpoint"))
            self.states[st.name] = st
            card = SlotCard(st.name, ARCHS, st.arch, st.enabled, settings["recent_checkpoints"])
            card.checkpoint_chosen.connect(self.load)
            card.arch_changed.connect(self._on_arch)
            card.enabled_changed.connect(self._on_enabled)
            card.clear_requested.connect(self.clear)
            card.cancel_download.connect(self._cancel_download)
            self.cards[st.name] = card
            row.addWidget(card, 1)
        self.downloader = WeightsDownloader()
        self.downloader.progress.connect(lambda slot, ref, done, total: self.cards[slot].show_download(ref, done, total))
        self.downloader.ready.connect(self._on_weights_ready)
        self.downloader.failed.connect(self._on_failed)
        self.downloader.cancelled_download.connect(self._on_download_cancelled)
        service.worker.model_loaded.connect(self._on_loaded)
        service.worker.model_failed.connect(self._on_failed)
        service.worker.model_unloaded.connect(self._on_unloaded)

    # -- queries ------------------------------------------------------------------------------
    def enabled(self) -> list[SlotState]:
        return [s for s in self.states.values() if s.enabled]

    def active(self) -> list[SlotState]:
        """Enabled slots holding a model."""
        return [s for s in self.enabled() if s.info is not None]

    def loading(self) -> bool:
        """A slot's model is being loaded (or its weights downloaded)."""
        return any(st.loading for st in self.states.values())

    def panels(self) -> list[tuple[str, str]]:
        """(slot, panel title): the architecture names the panel; the slot joins it only
        where two panels would otherwise read the same."""
        archs = [s.info.arch if s.info else s.arch for s in self.enabled()]
        return [(s.name, arch_label(a) if archs.count(a) == 1 else f"{arch_label(a)} ({s.name})")
                for s, a in zip(self.enabled(), archs)]

    def active_panels(self) -> list[tuple[str, str, str]]:
        """(slot, panel title, architecture) of the active slots."""
        titles = dict(self.panels())
        return [(s.name, titles.get(s.name, s.name), s.info.arch) for s in self.active()]

    def class_names(self) -> list[str]:
        """Every class the active models know, by name, once (their class sets may differ)."""
        return union_of_classes(s.info.meta for s in self.active())

    def slot_for_arch(self, arch: str) -> str | None:
        """The slot a checkpoint of `arch` belongs in: same arch first, by default order, an
        empty one before one that holds a model."""
        same = [st for st in self.states.values() if st.arch == arch and st.name != "custom"]
        empty = [st for st in same if st.info is None and not st.loading]
        if same:
            return (empty or same)[0].name
        return "custom" if "custom" in self.states else None

    # -- actions ------------------------------------------------------------------------------
    def set_archs(self, archs) -> None:
        for name, card in self.cards.items():
            card.set_archs(archs, self.states[name].arch)

    def restore_remembered(self) -> None:
        """Load each slot's remembered checkpoint again; say so on the card when it is gone."""
        for st in self.states.values():
            if not st.checkpoint or st.info is not None or st.loading:
                continue
            if is_pretrained_ref(st.checkpoint):  # found in the cache, or fetched again
                self.load(st.name, st.checkpoint)
                continue
            path = Path(st.checkpoint)
            if path.is_file():
                self.load(st.name, str(path))
            elif st.enabled:
                from gcam_desktop.files import why_missing

                why = why_missing(path, "file") if path.is_absolute() else "remembered as a relative path"
                st.error = f"the remembered checkpoint {path} is gone ({why}); open it again"
                self.cards[st.name].show_error(st.error)
                self.message.emit(f"{st.name}: {st.error}", 15000)

    def load(self, slot: str, path: str, arch: str | None = None) -> None:
        """Ask the worker for `path` in `slot`; the slot keeps its model if the file is refused.
        Paths are made absolute: the settings must find them again from any folder."""
        path = absolute_ref(path)
        st = self.states[slot]
        if arch and arch != st.arch:
            st.arch = arch
            self.cards[slot].set_arch(arch)
        # Slots hold models of any class sets side by side: no class check against the others.
        st.loading, st.error = str(path), None
        self.cards[slot].show_loading(str(path))
        if is_pretrained_ref(path):
            # ImageNet weights: the slot takes their architecture; the downloader finds them in
            # the cache or fetches them (progress and Cancel in the card), then the worker loads.
            arch = pretrained_arch(path)
            if arch is None:
                self._on_failed(slot, str(path), f"{path}: no such ImageNet weights; choose {CHOICES}")
                return
            st.arch = arch
            self.cards[slot].set_arch(arch)
            self.downloader.prepare(slot, str(path))
            self.message.emit(f"{slot}: getting {path}\u2026", 0)
            return
        self.service.load_model(slot, str(path), st.arch, None)
        self.message.emit(f"{slot}: loading {Path(path).name}\u2026", 0)

    def _on_weights_ready(self, slot: str, ref: str) -> None:
        st = self.states[slot]
        if st.loading != ref:  # the slot was given something else meanwhile
            return
        self.cards[slot].end_download()
        self.cards[slot].show_loading(ref)
        self.service.load_model(slot, ref, st.arch, None)

    def _cancel_download(self, slot: str) -> None:
        self.downloader.cancel_slot(slot)

    def _on_download_cancelled(self, slot: str, ref: str) -> None:
        st = self.states[slot]
        st.loading = None
        card = self.cards[slot]
        card.end_download()
        if st.info is not None:
            card.show_model(st.info)
        else:
            card.show_empty(f"download of {ref} cancelled")
        self.message.emit(f"{slot}: download of {ref} cancelled; nothing was kept", 8000)
        self.changed.emit()

    def build_untrained(self, slot: str, arch: str, class_names: list[str], input_size: int = 128) -> None:
        st = self.states[slot]
        st.arch, st.loading = arch, "untrained"
        self.cards[slot].set_arch(arch)
        self.service.build_untrained(slot, arch, class_names, input_size)

    def clear(self, slot: str) -> None:
        st = self.states[slot]
        st.checkpoint = None
        self.service.unload_model(slot)
        self._save()

    def _on_arch(self, slot: str, arch: str) -> None:
        st = self.states[slot]
        st.arch = arch
        if st.info is not None and st.info.arch != arch:
            st.checkpoint = None
            self.service.unload_model(slot)
            self.cards[slot].show_empty(f"pick a {arch_label(arch)} checkpoint")
        self._save()
        self.changed.emit()

    def _on_enabled(self, slot: str, on: bool) -> None:
        self.states[slot].enabled = on
        self._save()
        self.changed.emit()

    def _on_loaded(self, info: ModelInfo) -> None:
        st = self.states.get(info.slot)
        if st is None:
            return
        st.info, st.loading, st.error, st.arch = info, None, None, info.arch
        if info.path:
            st.checkpoint = info.path
            self.settings.add_recent("recent_checkpoints", info.path)
            for card in self.cards.values():
                card.recent = list(self.settings["recent_checkpoints"])
        self.cards[info.slot].show_model(info)
        self._save()
        self.message.emit(f"{info.slot}: {arch_label(info.arch)} loaded"
                          + (f" from {Path(info.path).name}" if info.path else " (untrained)"), 5000)
        self.changed.emit()

    def _on_failed(self, slot: str, path: str, message: str) -> None:
        st = self.states.get(slot)
        if st is None:
            return
        st.loading, st.error = None, message
        self.cards[slot].show_error(message)
        self.message.emit(f"{slot}: refused {Path(path).name} \u2014 {message}", 15000)

    def _on_unloaded(self, slot: str) -> None:
        st = self.states.get(slot)
        if st is None:
            return
        st.info = None
        if st.checkpoint is None:
            self.cards[slot].show_empty()
        self._save()
        self.changed.emit()

    def _save(self) -> None:
        self.settings["slots"] = [
            {"name": s.name, "arch": s.arch, "checkpoint": s.checkpoint, "enabled": s.enabled}
            for s in (self.states[n] for n in SLOT_NAMES if n in self.states)
        ]
        self.settings.save()
