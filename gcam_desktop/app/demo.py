"""`--demo` (what `make run` starts): the sample images and the three demo models.

Demo checkpoints already there load at once. Missing ones are trained by `gcam-train demo` in
the background (Training tab, curves showing); each slot fills as its checkpoint lands, from
the trainer's `finished` event or, as a fallback, a file watcher on the demo folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer

from gcam_desktop.models.pretrained_refs import pretrained_arch
from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint, demo_dir, photos_dir, samples_dir


def sample_images() -> Path:
    """The sample pictures (not their masks, which sit beside them in masks/)."""
    images = samples_dir() / "images"
    return images if images.is_dir() else samples_dir()


class DemoLoader(QObject):
    def __init__(self, win, train_missing: bool = True) -> None:
        super().__init__(win)
        self.win = win
        self.loaded: dict[str, tuple[str, int]] = {}    # arch -> (path, mtime_ns) asked for
        self.missing = [a for a in DEMO_ARCHS if not demo_checkpoint(a).exists()]
        self.watcher: QFileSystemWatcher | None = None
        self._user_moved = False
        samples = sample_images()
        if samples.is_dir():
            win.add_paths([samples])
        else:
            win.show_status(f"{samples}: no sample images in this installation", 10000)
        self.imagenet: set[str] = set()   # archs whose slot shows ImageNet weights instead
        for arch in DEMO_ARCHS:
            if arch not in self.missing:
                self._load(arch, demo_checkpoint(arch))
        if self.missing and train_missing:
            self._train()
        # ImageNet weights in the cache: the real photos, explained by ImageNet ResNet50 and
        # SE-ResNet50 in their slots (s_se keeps its demo model). Without them: as above, offline.
        win.slots.downloader.cached.connect(self._imagenet_found)
        win.slots.downloader.find_cached()

    def _imagenet_found(self, refs: list) -> None:
        photos = photos_dir()
        if not refs or not photos.is_dir():
            return
        self.win.add_paths([photos])
        for ref in refs:
            arch = pretrained_arch(ref)
            self.imagenet.add(arch)
            self.win.load_checkpoint_for_arch(arch, ref)
        self.win.show_status(f"ImageNet weights found ({', '.join(refs)}): the sample photos are explained "
                             f"by them; the synthetic demo model(s) say where a picture is outside their world", 10000)

    def _train(self) -> None:
        win = self.win
        demo_dir().mkdir(parents=True, exist_ok=True)
        self.watcher = QFileSystemWatcher([str(demo_dir())], self)
        self.watcher.directoryChanged.connect(lambda _: QTimer.singleShot(300, self._scan))
        win.training.checkpoint_landed.connect(self._landed)
        win.training.start_demo(self.missing)
        win.tabs.setCurrentWidget(win.training)
        win.tabs.currentChanged.connect(self._tab_changed)
        names = ", ".join(self.missing)
        win.show_status(f"Training the demo models ({names}) in the background; panels fill as each lands", 0)
        for arch in self.missing:
            slot = win.slots.slot_for_arch(arch)
            if slot:
                win.slots.cards[slot].show_empty("training the demo model\u2026 (Training tab)")

    def _tab_changed(self, _index: int) -> None:
        self._user_moved = True

    def _load(self, arch: str, path: Path) -> None:
        if arch in self.imagenet:  # that slot shows ImageNet weights now
            return
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return
        if self.loaded.get(arch) == (str(path), stamp):
            return
        self.loaded[arch] = (str(path), stamp)
        self.win.load_checkpoint_for_arch(arch, str(path))
        if arch in self.missing and not self._user_moved and self.win.tabs.currentWidget() is self.win.training:
            self.win.tabs.blockSignals(True)
            self.win.tabs.setCurrentIndex(0)   # the first model is in: show the comparison
            self.win.tabs.blockSignals(False)
            self._user_moved = True

    def _landed(self, arch: str, path: str) -> None:
        if arch in DEMO_ARCHS and path:
            self._load(arch, Path(path))

    def _scan(self) -> None:
        """A demo checkpoint appeared (or was replaced) while its slot waits for it."""
        for arch in self.missing:
            path = demo_checkpoint(arch)
            slot = self.win.slots.slot_for_arch(arch)
            if path.exists() and slot and self.win.slots.states[slot].info is None:
                self._load(arch, path)


def start_demo(win, train_missing: bool = True) -> DemoLoader:
    win.demo = DemoLoader(win, train_missing=train_missing)
    return win.demo
