"""The main window: image list, model slots, shared controls and the comparison view on the
Compare tab; the trainer on the Training tab; the engine's state in the status bar.

Extension points (e.g. a Quality tab): `window.service` (the one inference worker),
`window.slots` (loaded models; `slots.changed` fires when they change), `window.loaded_models()`
((name, meta, checkpoint path) per active slot), `window.explanations.path` / `.results` (the
current image and its explanations; `image_list.current_changed` and
`explanations.results_changed` fire when they change), `window.show_image(path)`,
`window.add_tab(widget, title)`, and `window.closing` (emitted before threads are stopped).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QToolBar,
    QVBoxLayout, QWidget,
)

from gcam_desktop.imaging import IMAGE_EXTENSIONS
from gcam_desktop.models.pretrained_refs import absolute_ref

from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.app.images.display_image import DisplayImageLoader
from gcam_desktop.app.widgets.drops import is_checkpoint_path, local_paths
from gcam_desktop.app.compare.explanation_controller import ExplanationController
from gcam_desktop.app.images.folder_scan import FolderScanner
from gcam_desktop.app.images.image_list import ImageList, ImageListModel
from gcam_desktop.app.inference.messages import EngineInfo
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.common.lifecycle import track
from gcam_desktop.app.common.qt_compat import install as install_qt_workarounds
from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.slots.slot_manager import SlotManager
from gcam_desktop.app.common.style import icon
from gcam_desktop.app.images.thumbnails import ThumbnailLoader

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
        self._build_ui()
        self._build_actions()
        self._connect()
        self.training = None
        self.quality = None
        self.attention = None
        self.similar = None
        self._install_training_tab()
        self._restore_geometry()
        # Deferred one turn of the event loop, so the engine's thread is started first (by the
        # application's own `painted` handler) and imports torch while pyqtgraph imports here.
        self.painted.connect(lambda: QTimer.singleShot(0, self._after_first_paint),
                             type=Qt.ConnectionType.SingleShotConnection)
        self.explanations.update_panels()
        self.explanations.set_image(None)

    # -- layout ---------------------------------------------------------------------------
    def _build_ui(self) -> None:
        compare = QWidget()
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
        self.splitter.setSizes([240, 1040])
        cv = QVBoxLayout(compare)
        cv.setContentsMargins(6, 6, 6, 6)
        cv.addWidget(self.splitter)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(compare, "Compare")
        self.setCentralWidget(self.tabs)

        sb = self.statusBar()
        self.engine_label = QLabel("Engine: starting\u2026")
        self.engine_label.setObjectName("engineState")
        self.queue_label = QLabel("")
        sb.addPermanentWidget(self.queue_label)
        sb.addPermanentWidget(self.engine_label)

    def _build_actions(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        self.act_open_files = QAction(icon("open-file"), "Open files\u2026", self)
        self.act_open_files.setShortcut(QKeySequence.StandardKey.Open)
        self.act_open_files.triggered.connect(self.open_files)
        self.act_open_folder = QAction(icon("open-folder"), "Open folder\u2026", self)
        self.act_open_folder.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.act_open_folder.triggered.connect(self.open_folder)
        self.act_export = QAction(icon("export"), "Export PNG\u2026", self)
        self.act_export.setShortcut(QKeySequence("Ctrl+E"))
        self.act_export.setToolTip("Save the current comparison as one PNG")
        self.act_export.triggered.connect(self.export_png)
        self.act_export_maps = QAction(icon("maps"), "Export maps\u2026", self)
        self.act_export_maps.setToolTip("Save every panel's raw map (.npz) and its metadata (.json)")
        self.act_export_maps.triggered.connect(self.export_maps)
        self.act_batch = QAction(icon("batch"), "Batch export\u2026", self)
        self.act_batch.setToolTip("Explain a whole folder with the loaded models (gcam-explain's code)")
        self.act_batch.triggered.connect(self.batch_export)
        self.act_reset = QAction(icon("zoom-fit"), "Fit", self)
        self.act_reset.setToolTip("Reset zoom and pan (shared by all panels)")
        self.act_reset.setShortcut(QKeySequence("Ctrl+0"))
        self.act_reset.triggered.connect(self.view.reset_zoom)
        self.recent_menu = self.menuBar().addMenu("&File")
        file_menu = self.recent_menu
        file_menu.addAction(self.act_open_files)
        file_menu.addAction(self.act_open_folder)
        self.recent = file_menu.addMenu("Open recent")
        self.recent.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self.act_export)
        file_menu.addAction(self.act_export_maps)
        file_menu.addAction(self.act_batch)
        file_menu.addSeparator()
        quit_act = file_menu.addAction("Quit")
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.close)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.act_reset)
        nxt = view_menu.addAction("Next image")
        nxt.setShortcuts([QKeySequence("Ctrl+Right")])
        nxt.triggered.connect(lambda: self.image_list.step(1))
        prv = view_menu.addAction("Previous image")
        prv.setShortcuts([QKeySequence("Ctrl+Left")])
        prv.triggered.connect(lambda: self.image_list.step(-1))
        for a in (self.act_open_files, self.act_open_folder):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.act_export, self.act_export_maps, self.act_batch):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_reset)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        tb.addWidget(spacer)
        tb.addWidget(QLabel("Device "))
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where the models run: auto picks CUDA, then MPS, then the CPU")
        self.device_combo.addItem(self.settings["device"], self.settings["device"])
        self.device_combo.setEnabled(False)
        self.device_combo.currentIndexChanged.connect(self._on_device_chosen)
        tb.addWidget(self.device_combo)

    def _show_engine_state(self) -> None:
        """"Engine: ready" only once the panels are: models still loading or maps still
        being computed are said as such."""
        state = getattr(self, "_engine_state", "loading")
        if state == "ready":
            enabled = self.slots.enabled()
            waiting = [s.name for s in enabled if s.info is not None and self.explanations.path
                       and s.name not in self.explanations.results]
            if any(s.loading for s in enabled):
                text, kind = "Engine: loading models\u2026", "loading"
            elif waiting:
                text, kind = "Engine: computing\u2026", "loading"
            else:
                text, kind = "Engine: ready", "ready"
        else:
            text, kind = {"loading": "Engine: loading\u2026", "failed": "Engine: failed"}.get(state, state), state
        self.engine_label.setText(text)
        self.engine_label.setToolTip(getattr(self, "_engine_detail", ""))
        if self.engine_label.property("kind") != kind:
            self.engine_label.setProperty("kind", kind)
            self.engine_label.style().unpolish(self.engine_label)
            self.engine_label.style().polish(self.engine_label)

    def _connect(self) -> None:
        w = self.service.worker
        w.engine_state.connect(self._on_engine_state)
        w.engine_ready.connect(self._on_engine_ready)
        w.device_changed.connect(self._on_device_changed)
        w.started_request.connect(lambda _: self._update_queue())
        self.service.result_ready.connect(lambda _: self._update_queue())
        self.slots.message.connect(self.show_status)
        self.slots.changed.connect(self._show_engine_state)
        w.model_failed.connect(lambda *_: self._show_engine_state())
        self.explanations.results_changed.connect(self._show_engine_state)
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

    def _install_training_tab(self) -> None:
        from gcam_desktop.app.training.tab import TrainingTab

        self.training = TrainingTab(self.settings, self)
        self.training.load_checkpoint.connect(self.load_checkpoint_for_arch)
        self.training.message.connect(self.show_status)
        self.training.open_images.connect(self._open_pair)
        self.add_tab(self.training, "Training")

    def _open_pair(self, paths: list) -> None:
        """Both pictures of a near-duplicate pair into the list; the first shown, the Similar strip
        then shows the other beside it."""
        self.list_model.add_paths([str(p) for p in paths])
        self.show_image(str(paths[0]))

    def add_tab(self, widget: QWidget, title: str) -> int:
        return self.tabs.addTab(widget, title)

    def loaded_models(self) -> list[tuple[str, dict, str | None]]:
        """(panel name, checkpoint metadata, checkpoint path or None) of the active slots."""
        return [(f"{s.name} ({s.info.arch})", dict(s.info.meta), s.info.path) for s in self.slots.active()]

    # -- start-up ---------------------------------------------------------------------------
    def _after_first_paint(self) -> None:
        """The image views need pyqtgraph (half a second to import): they join the window
        right after it has painted, while the engine's thread imports torch."""
        self.view.attach_canvases()
        self.image_list.view.setFocus()   # arrows and PageUp/PageDown move through the images
        self._install_quality_tab()
        self._install_attention_tab()
        self._install_similar_strip()

    def _install_similar_strip(self) -> None:
        """The Similar strip under the comparison (app/images/similar.py): the open folders are
        fingerprinted on its own thread; clicking a picture shows its comparison."""
        from gcam_desktop.app.images.similar import SimilarPictures

        self.similar = SimilarPictures(self)
        self._compare_column.addWidget(self.similar.strip)

    def _install_quality_tab(self) -> None:
        """The Quality tab (app/quality/tab.py): scores explanations on its own thread, started
        only when the tab is shown."""
        from gcam_desktop.app.quality.tab import QualityTab

        self.quality = QualityTab(self.loaded_models, device=self.settings["device"])
        self.quality.imageActivated.connect(self.show_image)
        self.image_list.current_changed.connect(self.quality.set_image)
        self.slots.changed.connect(self.quality.refresh)
        self.scanner.finished.connect(self._quality_folder)
        if self.explanations.path:
            self.quality.set_image(self.explanations.path)
        self.add_tab(self.quality, "Quality")

    def _install_attention_tab(self) -> None:
        """The Attention tab (app/attention/view.py): the SE / s_se gates of the current image,
        from the Compare tab's results; its plots are drawn when the tab is shown."""
        from gcam_desktop.app.attention.view import AttentionTab

        self.attention = AttentionTab(self)
        self.add_tab(self.attention, "Attention")

    def _quality_folder(self, root: str, count: int) -> None:
        """The folder scanned last is the Quality tab's folder."""
        if self.quality is not None and Path(root).is_dir():
            prefix = os.path.join(str(Path(root)), "")
            self.quality.set_folder([p for p in self.list_model.paths if p.startswith(prefix)], root)
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

    def _fill_recent(self) -> None:
        self.recent.clear()
        for key, label in (("recent_folders", "Folders"), ("recent_files", "Files")):
            items = self.settings[key]
            if items:
                self.recent.addSection(label)
                for p in items:
                    self.recent.addAction(p, lambda p=p: self.add_paths([p]))
        if self.recent.isEmpty():
            self.recent.addAction("(nothing yet)").setEnabled(False)

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

    def _on_engine_state(self, state: str, detail: str) -> None:
        self._engine_state, self._engine_detail = state, detail
        self._show_engine_state()
        if state == "failed":
            # Not a modal box: the window stays usable (image list, training) without an engine.
            self.show_status(detail, 0)
            for panel in self.view.panels.values():
                panel.set_error(detail)
        elif detail:
            self.show_status(detail, 6000)

    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine_label.setText(f"Engine: ready \u00b7 {info.device}")
        self.engine_label.setToolTip(f"torch {info.torch} loaded in {info.seconds:.1f} s")
        self.slots.set_archs(info.archs)
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for name in info.devices:
            self.device_combo.addItem(name, name)
        want = self.settings["device"]
        i = self.device_combo.findData(want)
        self.device_combo.setCurrentIndex(max(0, i))
        self.device_combo.blockSignals(False)
        self.device_combo.setEnabled(True)
        self.explanations.engine_ready(info)
        if self.training is not None:
            self.training.set_gpu_count(sum(1 for d in info.devices if d.startswith("cuda:")))

    def _on_device_chosen(self, _index: int) -> None:
        name = self.device_combo.currentData()
        if name:
            self.settings["device"] = name
            self.settings.save()
            self.service.set_device(name)
            self.show_status(f"Moving models to {name}\u2026", 0)

    def _on_device_changed(self, device: str, error: str) -> None:
        if error:   # not a modal box: this answers an asynchronous request
            self.show_status(error, 15000)
            # Show where the models really run: that device's entry, else "auto".
            self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(device)))
            self.device_combo.blockSignals(False)
        else:
            self.show_status(f"Models run on {device}", 5000)
        self.engine_label.setText(f"Engine: ready \u00b7 {device}")

    def _update_queue(self) -> None:
        n = self.service.worker.queued()
        self.queue_label.setText(f"{n} queued" if n else "")

    # -- export ---------------------------------------------------------------------------------
    def export_png(self) -> None:
        from gcam_desktop.app.export.comparison import export_comparison_dialog

        export_comparison_dialog(self)

    def export_maps(self) -> None:
        from gcam_desktop.app.export.comparison import export_maps_dialog

        export_maps_dialog(self)

    def batch_export(self) -> None:
        from gcam_desktop.app.export.batch import BatchExportDialog

        BatchExportDialog(self).exec()

    # -- settings and closing -------------------------------------------------------------------
    def _save_controls(self, _name: str = "") -> None:
        self.settings.controls.update(self.controls.values().asdict())
        self._save_timer.start()  # coalesces a slider drag into one write

    def qsettings(self) -> QSettings:
        return QSettings(str(self.settings.window_path), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        qs = self.qsettings()
        geo = qs.value("geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        state = qs.value("splitter")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        else:
            self.splitter.setSizes([250, max(400, self.width() - 250)])

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
        qs = self.qsettings()
        qs.setValue("geometry", self.saveGeometry())
        qs.setValue("splitter", self.splitter.saveState())
        qs.sync()
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
