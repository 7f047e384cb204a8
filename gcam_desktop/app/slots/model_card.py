"""A model slot card: architecture, checkpoint picker (dialog, drop, recent files), the
checkpoint's metadata, an on/off switch, and the loader's message when a file is refused."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QFrame, QGridLayout, QLabel, QMenu, QProgressBar, QSizePolicy,
    QToolButton,
)

from gcam_desktop.app.widgets.elided_combo import ElidedComboBox
from gcam_desktop.app.widgets.elided_label import ElidedLabel
from gcam_desktop.app.widgets.drops import CHECKPOINT_FILTER, is_checkpoint_path, local_paths
from gcam_desktop.app.inference.messages import ModelInfo
from gcam_desktop.models.knowledge import describe_classes
from gcam_desktop.models.names import arch_label



def describe_meta(meta: dict) -> str:
    """One line for the card: classes, input size, epoch, validation accuracy."""
    parts = []
    names = list(meta.get("class_names") or [])
    n = meta.get("num_classes", len(names))
    parts.append(f"{n} classes")
    if meta.get("input_size"):
        parts.append(f"{meta['input_size']} px")
    if meta.get("epoch"):
        parts.append(f"ep. {meta['epoch']}")
    metrics = meta.get("metrics") or {}
    acc = next((metrics[k] for k in ("val_acc", "best_val_acc", "accuracy", "test_acc") if
                isinstance(metrics.get(k), (int, float))), None)
    if acc is not None:
        parts.append(f"val {acc * 100:.3g}%" if acc <= 1 else f"val {acc:.3g}%")
    return " \u00b7 ".join(parts)


class SlotCard(QFrame):
    checkpoint_chosen = Signal(str, str)   # slot, path
    arch_changed = Signal(str, str)        # slot, arch
    enabled_changed = Signal(str, bool)
    clear_requested = Signal(str)
    cancel_download = Signal(str)          # slot

    # The ImageNet weights offered beside Open... (models/pretrained.py resolves them).
    PRETRAINED = (("ImageNet weights (torchvision)", "imagenet:resnet50", "ResNet50_Weights.IMAGENET1K_V2"),
                  ("ImageNet weights (timm)", "imagenet:se_resnet50", "SE-ResNet50 seresnet50.a1_in1k"))

    def __init__(self, slot: str, archs, arch: str, enabled: bool, recent: list[str] | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.recent = list(recent or [])
        self.setObjectName("slotCard")
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.enabled = QCheckBox(slot)
        self.enabled.setObjectName("slotName")
        self.enabled.setChecked(enabled)
        self.enabled.setToolTip("Show this model's panel")
        # Narrow cards (four in 1024 px) show "s_se-ResN…"; the list shows the whole names.
        self.arch = ElidedComboBox(min_chars=5)
        self.set_archs(archs, arch)
        self.checkpoint = ElidedLabel("no checkpoint")
        self.checkpoint.setObjectName("slotCheckpoint")
        self.setToolTip("Drop a checkpoint (.pt, .pth, .safetensors) onto this card to load it")

        self.open = QToolButton()
        self.open.setText("Open\u2026")
        self.open.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.open.setToolTip("Choose a checkpoint file (or drop one onto this card)")
        self.menu = QMenu(self)
        self.open.setMenu(self.menu)
        self.menu.aboutToShow.connect(self._fill_menu)
        self.open.clicked.connect(self.choose_file)
        self.meta = ElidedLabel(" ")
        self.meta.setObjectName("slotMeta")
        # Two lines at most, whatever the error: the cards keep their height and the panels
        # their room; the whole text is in the tooltip and the status bar.
        self.message = ElidedLabel(lines=2)
        self.message.setObjectName("slotMessage")
        keep = self.message.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the same card height with or without a message
        self.message.setSizePolicy(keep)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.enabled, 0, 0)
        grid.addWidget(self.arch, 0, 1)
        grid.addWidget(self.checkpoint, 1, 0)
        grid.addWidget(self.open, 1, 1)
        grid.addWidget(self.meta, 2, 0, 1, 2)
        grid.addWidget(self.message, 3, 0, 1, 2)
        self.download = QProgressBar()
        self.download.setObjectName("slotDownload")
        self.download.setTextVisible(True)
        self.download.hide()
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop the download (nothing half-downloaded is kept)")
        self.cancel.clicked.connect(lambda: self.cancel_download.emit(self.slot))
        self.cancel.hide()
        grid.addWidget(self.download, 4, 0)
        grid.addWidget(self.cancel, 4, 1)
        grid.setColumnStretch(0, 1)
        self.enabled.toggled.connect(lambda on: self.enabled_changed.emit(self.slot, on))
        self.arch.currentIndexChanged.connect(lambda _: self.arch_changed.emit(self.slot, self.arch.currentData()))
        self.path: str | None = None
        self._update_enabled_look()
        self.enabled.toggled.connect(lambda _: self._update_enabled_look())

    def set_archs(self, archs, current: str) -> None:
        self.arch.blockSignals(True)
        self.arch.clear()
        for a in archs:
            self.arch.addItem(arch_label(a), a)
        i = self.arch.findData(current)
        self.arch.setCurrentIndex(max(0, i))
        self.arch.blockSignals(False)

    def set_arch(self, arch: str) -> None:
        i = self.arch.findData(arch)
        if i >= 0 and i != self.arch.currentIndex():
            self.arch.blockSignals(True)
            self.arch.setCurrentIndex(i)
            self.arch.blockSignals(False)

    def _update_enabled_look(self) -> None:
        self.setProperty("off", not self.enabled.isChecked())
        self.style().unpolish(self)
        self.style().polish(self)

    # -- picking ----------------------------------------------------------------------------
    def choose_file(self) -> None:
        start = str(Path(self.path).parent) if self.path else (str(Path(self.recent[0]).parent) if self.recent else "")
        path, _ = QFileDialog.getOpenFileName(self, f"Checkpoint for {self.slot}", start, CHECKPOINT_FILTER)
        if path:
            self.checkpoint_chosen.emit(self.slot, path)

    def _fill_menu(self) -> None:
        self.menu.clear()
        self.menu.addAction("Choose file\u2026", self.choose_file)
        for label, ref, tip in self.PRETRAINED:
            act = self.menu.addAction(label, lambda ref=ref: self.checkpoint_chosen.emit(self.slot, ref))
            act.setToolTip(f"{tip}: from the cache, or downloaded once (about 100 MB)")
        if self.recent:
            self.menu.addSection("Recent")
            for p in self.recent:
                act = self.menu.addAction(Path(p).name, lambda p=p: self.checkpoint_chosen.emit(self.slot, p))
                act.setToolTip(p)
        self.menu.addSeparator()
        clear = self.menu.addAction("Clear slot", lambda: self.clear_requested.emit(self.slot))
        clear.setEnabled(self.path is not None)

    def dragEnterEvent(self, event) -> None:
        paths = local_paths(event.mimeData())
        if paths and is_checkpoint_path(paths[0]):
            self.setProperty("dropping", True)
            self.style().polish(self)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self.setProperty("dropping", False)
        self.style().polish(self)

    def dropEvent(self, event) -> None:
        self.setProperty("dropping", False)
        self.style().polish(self)
        paths = [p for p in local_paths(event.mimeData()) if is_checkpoint_path(p)]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.checkpoint_chosen.emit(self.slot, str(paths[0]))

    # -- state shown --------------------------------------------------------------------------
    def show_loading(self, path: str) -> None:
        self._message(f"loading {Path(path).name}\u2026", "busy")

    def show_download(self, ref: str, done: int, total: int | None) -> None:
        """Download progress of ImageNet weights, with Cancel beside it."""
        self.download.setRange(0, 1000 if total else 0)  # (0, 0): busy without a known size
        if total:
            self.download.setValue(int(1000 * done / total))
        mb = f"{done / 2**20:.0f} of {total / 2**20:.0f} MB" if total else f"{done / 2**20:.0f} MB"
        self.download.setFormat(f"{ref}: {mb}")
        self.download.show()
        self.cancel.show()
        self._message(f"downloading {ref}\u2026", "busy")

    def end_download(self) -> None:
        self.download.hide()
        self.cancel.hide()

    def show_model(self, info: ModelInfo) -> None:
        self.end_download()
        self.path = info.path
        name = Path(info.path).name if info.path else "untrained (no checkpoint)"
        self.checkpoint.setText(name)
        self.checkpoint.setToolTip(info.path or "")
        self.set_arch(info.arch)
        self.meta.setText(describe_meta(info.meta))
        _, classes = describe_classes(info.meta, shown=40)
        source = "".join(f"\n{label}: {info.meta[key]}" for label, key in
                         (("Weights", "provider"), ("Source", "source"), ("Licence", "licence")) if info.meta.get(key))
        self.meta.setToolTip(classes + source + f"\nDevice: {info.device}\n"
                             f"Created: {info.meta.get('created', '?')}")
        self._message("")

    def show_empty(self, note: str = "") -> None:
        self.path = None
        self.checkpoint.setText("no checkpoint")
        self.checkpoint.setToolTip("")
        self.meta.setText(" ")
        self._message(note, "info" if note else "")

    def show_error(self, message: str) -> None:
        self.end_download()
        self._message(message, "error")

    def _message(self, text: str, kind: str = "") -> None:
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.setVisible(bool(text))
        self.message.setProperty("kind", kind)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
