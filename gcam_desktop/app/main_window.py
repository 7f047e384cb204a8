"""The main window, the app's composition root: it makes the shared pieces (the inference
service, the slots, the image list, the controls and the comparison view on the Compare tab)
and hands each feature only what it needs (window_features.py: the Training, Quality and
Attention tabs, the Similar strip, the exports). The menus and toolbar are in window_menus.py,
the engine's state in the status bar in window_status.py, size and place in window_geometry.py.

Its public surface, for the composition root's other parts (demo, self-test, tests):
`service`, `slots`, `explanations`, `image_list`, `list_model`, `add_paths`, `show_image`,
`load_checkpoint_for_arch`, `add_tab`, `show_status`, `start_engine`, and `closing` (emitted
before threads are stopped). Features never get the window (tests/app/test_feature_interfaces.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from gcam_desktop.imaging import IMAGE_EXTENSIONS
from gcam_desktop.models.pretrained_refs import absolute_ref

from gcam_desktop.app import window_features as features, window_geometry as geometry
from gcam_desktop.app.common.lifecycle import track
from gcam_desktop.app.common.qt_compat import install as install_qt_workarounds
from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.app.compare.explanation_controller import ExplanationController
from gcam_desktop.app.images.display_image import DisplayImageLoader
from gcam_desktop.app.images.folder_scan import FolderScanner
from gcam_desktop.app.images.image_list import ImageList, ImageListModel
from gcam_desktop.app.images.thumbnails import ThumbnailLoader
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.slots.slot_manager import SlotManager
from gcam_desktop.app.widgets.drops import is_checkpoint_path, local_paths
from gcam_desktop.app.window_menus import WindowMenus
from gcam_desktop.app.window_status import EngineStatus

IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ");;All files (*)"


class MainWindow(QMainWindow):
    painted = Signal()          # first paint done (launch timing)
    closing = Signal()          # the window is shutting down: stop your threads now

    def __init__(self, settings: Settings | None = None, device: str | None = None) -> None:
        install_qt_workarounds()
        super().__init__()
        self.setWindowTitle("gcam-desktop \u2014 Grad-CAM comparison of ResNet50 variants")
        self.setAcceptDrops(True)
        self.settings = settings or Settings.load()
        if device:
            self.settings["device"] = device
        self.first_paint_at: float | None = None
        self._closing = False
        self.pool = track(QThreadPool(self))
        self.pool.setMaxThreadCount(2)

        self.service = InferenceService(self.settings["device"], self)
        self.thumbnails = ThumbnailLoader(self.pool, parent=self)
        self.display_images = DisplayImageLoader()
        self.scanner = FolderScanner()
        self.list_model = ImageListModel(self.thumbnails, self)
        self.image_list = ImageList(self.list_model)
        self.slots = SlotManager(self.service, self.settings, self)
        self.controls = Controls(self.settings.controls)
        self.view = ComparisonView()
        self.explanations = ExplanationController(self.service, self.slots, self.controls, self.view,
                                                  self.display_images, self)
        self.export_source = features.export_source(self)
        self._build_compare_tab()
        self.status = EngineStatus(self.service, self.slots, self.explanations, self.view, self.settings,
                                   self.statusBar(), self.show_status, self)
        self.menus = WindowMenus(self)
        self._connect()
        self.quality = self.attention = self.families = self.strategies = self.similar = None   # after the first paint
        self.training = features.install_training_tab(self)
        geometry.restore(self, self.splitter, self.qsettings())
        # Deferred one turn of the event loop, so the engine's thread is started first (by the
        # application's own `painted` handler) and imports torch while pyqtgraph imports here.
        self.painted.connect(lambda: QTimer.singleShot(0, self._after_first_paint),
                             type=Qt.ConnectionType.SingleShotConnection)
        self.explanations.update_panels()
        self.explanations.set_image(None)

    # -- layout ---------------------------------------------------------------------------
    def _build_compare_tab(self) -> None:
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.setSpacing(6)
        rv.addWidget(self.slots.widget)
        rv.addWidget(self.controls)
        rv.addWidget(self.view, 1)
        self._compare_column = rv  # the Similar strip joins it after the first paint
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.image_list)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        compare = QWidget()
        cv = QVBoxLayout(compare)
        cv.setContentsMargins(6, 6, 6, 6)
        cv.addWidget(self.splitter)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(compare, "Compare")
        self.setCentralWidget(self.tabs)

    def _connect(self) -> None:
        self.slots.message.connect(self.show_status)
        self.explanations.message.connect(self.show_status)
        self.controls.note.connect(lambda text: self.show_status(text, 10000))
        self.explanations.image_failed.connect(self._on_image_failed)
        self.image_list.current_changed.connect(self._on_current_image)
        self.scanner.found.connect(self.list_model.add_paths)
        self.scanner.problem.connect(lambda p, m: self.show_status(f"{p}: {m}", 10000))
        self.scanner.finished.connect(self._on_scan_finished)
        self.thumbnails.failed.connect(self._on_thumb_failed)
        self.controls.changed.connect(self._save_controls)
        self._save_timer = QTimer(self, singleShot=True, interval=500)
        self._save_timer.timeout.connect(self.settings.save)

    def add_tab(self, widget: QWidget, title: str) -> int:
        return self.tabs.addTab(widget, title)

    def loaded_models(self) -> list[tuple[str, dict, str | None]]:
        """(panel name, checkpoint metadata, checkpoint path or None) of the active slots."""
        return [(f"{s.name} ({s.info.arch})", dict(s.info.meta), s.info.path) for s in self.slots.active()]

    # -- start-up ---------------------------------------------------------------------------
    def _after_first_paint(self) -> None:
        """The image views need pyqtgraph (half a second to import): they join the window
        right after it has painted, while the engine's thread imports torch."""
        if self._closing:
            return   # shut down within that turn of the event loop: nothing to add to
        self.view.attach_canvases()
        self.image_list.view.setFocus()   # arrows and PageUp/PageDown move through the images
        self.quality = features.install_quality_tab(self)
        self.attention = features.install_attention_tab(self)
        self.families = features.install_families_tab(self)
        self.strategies = features.install_strategies_tab(self)
        self.similar = features.install_similar_strip(self, self._compare_column)

    def start_engine(self, restore_slots: bool = True) -> None:
        """Start the worker (it imports torch); called once the window has painted. The
        remembered checkpoints load again; one that is gone is said on its card."""
        self.service.start()
        if restore_slots:
            self.slots.restore_remembered()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.first_paint_at is None:
            self.first_paint_at = time.perf_counter()
            QTimer.singleShot(0, self.painted.emit)

    # -- images -----------------------------------------------------------------------------
    def add_paths(self, paths) -> None:
        """Image files and folders (scanned in the background); checkpoints go to a slot."""
        paths = [Path(p) for p in paths]
        ckpts = [p for p in paths if p.is_file() and is_checkpoint_path(p)]
        rest = [p for p in paths if p not in ckpts]
        for p in ckpts:
            self.show_status(f"{p.name}: drop checkpoints onto a model slot card to load them", 8000)
        if rest:
            for p in rest:
                if p.is_dir():
                    self.settings.add_recent("recent_folders", p)
                elif p.is_file():
                    self.settings.add_recent("recent_files", p)
            self.settings.save()
            self.scanner.scan(rest)
            names = ", ".join(p.name or str(p) for p in rest[:3]) + (" \u2026" if len(rest) > 3 else "")
            self.show_status(f"Scanning {names}", 0)

    def show_image(self, path: str) -> None:
        """Make `path` the current image (added to the list if it is not there yet)."""
        path = str(path)
        if not self.image_list.select_path(path):
            self.list_model.add_paths([path])
            self.image_list.select_path(path)
        self.tabs.setCurrentIndex(0)

    def open_pair(self, paths: list) -> None:
        """Both pictures of a near-duplicate pair (Training tab) into the list; the first shown,
        the Similar strip then shows the other beside it."""
        self.list_model.add_paths([str(p) for p in paths])
        self.show_image(str(paths[0]))

    def open_files(self) -> None:
        start = self.settings["last_folder"] or ""
        files, _ = QFileDialog.getOpenFileNames(self, "Open images", start, IMAGE_FILTER)
        if files:
            self.settings["last_folder"] = str(Path(files[0]).parent)
            self.add_paths(files)

    def open_folder(self) -> None:
        start = self.settings["last_folder"] or ""
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", start)
        if folder:
            self.settings["last_folder"] = folder
            self.add_paths([folder])

    def _on_scan_finished(self, root: str, count: int) -> None:
        n = self.list_model.rowCount()
        self.show_status(f"{Path(root).name or root}: {count:,} image{'s' if count != 1 else ''} "
                     f"\u2014 {n:,} in the list", 6000)

    def _on_current_image(self, path: str) -> None:
        self.explanations.set_image(path)
        err = self.list_model.errors.get(path)
        if err:
            self.show_status(f"{path}: {err}", 10000)

    def _on_image_failed(self, path: str, reason: str) -> None:
        self.list_model.set_error(path, reason)
        self.show_status(f"{path}: {reason}", 10000)

    def _on_thumb_failed(self, path: str, reason: str) -> None:
        if path == self.image_list.current_path():
            self.show_status(f"{path}: {reason}", 10000)

    # -- drops --------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # -- models ---------------------------------------------------------------------------------
    def load_checkpoint_for_arch(self, arch: str, path: str) -> None:
        """A trained checkpoint into the slot for its architecture (Training tab, --weights)."""
        slot = self.slots.slot_for_arch(arch)
        if slot is None:
            self.show_status(f"no slot for {arch}", 8000)
            return
        st = self.slots.states[slot]
        if not st.enabled:
            self.slots.cards[slot].enabled.setChecked(True)
        self.slots.load(slot, absolute_ref(path), arch)

    # -- exports (window_features.py) --------------------------------------------------------
    def export_png(self) -> None:
        features.export_png(self)

    def export_maps(self) -> None:
        features.export_maps(self)

    def batch_export(self) -> None:
        features.batch_export_dialog(self).exec()

    # -- settings and closing -------------------------------------------------------------------
    def _save_controls(self, _name: str = "") -> None:
        self.settings.controls.update(self.controls.values().asdict())
        self._save_timer.start()  # coalesces a slider drag into one write

    def qsettings(self) -> QSettings:
        return QSettings(str(self.settings.window_path), QSettings.Format.IniFormat)

    def show_status(self, text: str, timeout_ms: int = 5000) -> None:
        if text:
            self.statusBar().showMessage(text, timeout_ms)
        else:
            self.statusBar().clearMessage()

    def closeEvent(self, event) -> None:
        if self.training is not None and self.training.running():
            answer = QMessageBox.question(
                self, "Training is running",
                "A training run is in progress. Stop it (its last checkpoint is saved) and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop every thread and child process; safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self.closing.emit()
        geometry.save(self, self.splitter, self.qsettings())
        self.settings.controls.update(self.controls.values().asdict())
        self.settings.save()
        if self.training is not None:
            self.training.shutdown()
        if self.quality is not None:
            self.quality.shutdown()
        self.slots.downloader.shutdown()  # a running download sees the cancel and keeps nothing
        self.scanner.shutdown()
        self.thumbnails.shutdown()
        self.display_images.shutdown()
        self.service.shutdown()
        self.pool.waitForDone(10_000)
