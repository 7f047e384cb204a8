"""The Quality panel: how good are the explanations, for the current image and for a folder.

This image: deletion and insertion curves per model (pyqtgraph) and, where an object mask
exists, the pointing-game result and the energy inside the mask. This folder: a background
job that scores every image with every model and fills a table per model (mean and 95 %
interval of each metric, accuracy), answers whether SE / s_se attention points at the object
more often than the baseline, and filters the images: correct, wrong, models disagree,
lowest quality first.

Self-contained: the panel is built with a callable returning the models to score (name, meta,
and a checkpoint path or an in-memory model) and runs all work on its own thread, on its own
copies of the models. Copies, because the explanation engine hooks the model it explains:
sharing a model with the viewer's inference worker would let either thread's hooks fire in
the other's forward pass. torch is imported in that thread, only once the panel has work.

    panel = QualityPanel(lambda: [QualityModel(name, meta, path=ckpt), ...])
    panel.imageActivated.connect(window.show_image)
    panel.set_image(path); panel.set_folder(paths, root=folder)
    panel.shutdown()  # from the window's closeEvent (also hooked to aboutToQuit)
"""

from __future__ import annotations

import math
import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSpinBox, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from gcam_desktop.app.shell.lifecycle import track

FILTERS = ("all", "correct", "wrong", "models disagree", "lowest quality first")
METRIC_COLUMNS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc", "average_drop",
                  "increase_in_confidence")
METRIC_TITLES = ("pointing", "energy in mask", "deletion AUC \u2193", "insertion AUC \u2191", "avg drop % \u2193",
                 "increase % \u2191")
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


# ------------------------------------------------------------------------------------ inputs

@dataclass(frozen=True)
class QualityModel:
    """A model to score: a checkpoint file, or (when there is none) an in-memory model whose
    weights are copied in the panel's thread."""

    name: str
    meta: Mapping = field(default_factory=dict, compare=False, hash=False)
    path: str | None = None
    model: Any = field(default=None, compare=False, hash=False)


def coerce_models(items: Iterable) -> list[QualityModel]:
    """QualityModel from QualityModel, mappings, or tuples (name, meta[, path[, model]])."""
    out = []
    for it in items or ():
        if isinstance(it, QualityModel):
            out.append(it)
        elif isinstance(it, Mapping):
            out.append(QualityModel(str(it["name"]), dict(it.get("meta") or {}), it.get("path"), it.get("model")))
        else:
            t = tuple(it)
            out.append(QualityModel(str(t[0]), dict(t[1] or {}) if len(t) > 1 else {},
                                    str(t[2]) if len(t) > 2 and t[2] else None, t[3] if len(t) > 3 else None))
    return out


@dataclass(frozen=True)
class _ImageJob:
    id: int
    path: str
    method: str
    steps: int
    sources: tuple
    root: str | None
    masks: str | None


@dataclass(frozen=True)
class _FolderJob:
    id: int
    paths: tuple
    method: str
    steps: int
    sources: tuple
    root: str | None
    masks: str | None


# ------------------------------------------------------------------------------------ worker

class QualitySignals(QObject):
    """The worker's signals, on their own QObject (emitted from the worker thread, delivered
    queued to the UI thread)."""

    ready = Signal(list)                       # methods the engine offers
    models_meta = Signal(dict)                 # name -> checkpoint metadata of the models in use
    failed = Signal(str)                       # the engine could not load
    image_done = Signal(int, object)           # job id, ImageScore
    image_failed = Signal(int, str)            # job id, message
    folder_started = Signal(int, int, list)    # job id, total, model names
    folder_item = Signal(int, object, int, int)  # job id, ImageScore | SkippedImage, done, total
    folder_finished = Signal(int, bool)        # job id, cancelled
    folder_failed = Signal(int, str)           # job id, message


class QualityWorker:
    """A loop on its own thread: the newest image request first, then one folder image at a
    time, so the current image never waits for a whole folder and Cancel lands within one
    image. Holds private copies of the models (see the module docstring)."""

    def __init__(self, device: str = "auto") -> None:
        self.signals = QualitySignals()
        self.device_name = device
        self._cv = threading.Condition()
        self._image: _ImageJob | None = None
        self._new_folder: _FolderJob | None = None
        self._cancel = False
        self._stop = False
        self._copies: dict[tuple, Any] = {}
        self.images_scored = 0  # read by tests

    # -- any thread ------------------------------------------------------------------------
    def request_image(self, job: _ImageJob) -> None:
        with self._cv:
            self._image = job  # supersedes one still waiting
            self._cv.notify()

    def start_folder(self, job: _FolderJob) -> None:
        with self._cv:
            self._new_folder, self._cancel = job, True
            self._cv.notify()

    def cancel_folder(self) -> None:
        with self._cv:
            self._new_folder, self._cancel = None, True
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stop, self._image, self._new_folder, self._cancel = True, None, None, True
            self._cv.notify_all()

    # -- the worker thread -----------------------------------------------------------------
    def run(self) -> None:
        try:
            import torch  # noqa: F401  (seconds: here, not in the UI thread)

            from gcam_desktop import explain
            from gcam_desktop import evaluation as evaluate
            from gcam_desktop import models

            self._evaluate, self._models = evaluate, models
            self.device = models.pick_device(self.device_name)
        except Exception as exc:
            traceback.print_exc()
            self.signals.failed.emit(f"could not load the engine: {type(exc).__name__}: {exc}")
            return
        self.signals.ready.emit(list(explain.METHODS))
        folder: tuple[_FolderJob, list, Callable] | None = None  # job, entries, mask lookup
        done = 0
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._image or self._new_folder or self._cancel
                                  or folder is not None)
                if self._stop:
                    break
                image, self._image = self._image, None
                cancel, self._cancel = self._cancel, False
                new, self._new_folder = self._new_folder, None
            if cancel and folder is not None:
                self.signals.folder_finished.emit(folder[0].id, True)
                folder = None
            if new is not None:
                folder, done = self._open_folder(new), 0
            if image is not None:
                self._score_image(image)
                continue
            if folder is not None:
                job, entries, masks_for = folder
                path = job.paths[done]
                item = self._score_one(entries, path, job.method, job.steps, masks_for, keep_curves=False)
                done += 1
                self.signals.folder_item.emit(job.id, item, done, len(job.paths))
                if done == len(job.paths):
                    self.signals.folder_finished.emit(job.id, False)
                    folder = None
        self._copies.clear()

    def _open_folder(self, job: _FolderJob):
        try:
            entries = self._entries(job.sources)
        except Exception as exc:
            self.signals.folder_failed.emit(job.id, str(exc))
            return None
        if not job.paths:
            self.signals.folder_finished.emit(job.id, False)
            return None
        self.signals.folder_started.emit(job.id, len(job.paths), [e.name for e in entries])
        return job, entries, self._mask_lookup(job.root, job.masks)

    def _mask_lookup(self, root: str | None, masks: str | None) -> Callable:
        ev = self._evaluate
        root_p, masks_p = (Path(root) if root else None), (Path(masks) if masks else None)
        return lambda p: ev.mask_path_for(Path(p), root_p or Path(p).parent.parent, masks_p)

    def _score_one(self, entries, path: str, method: str, steps: int, masks_for, keep_curves: bool):
        ev = self._evaluate
        try:
            items = list(ev.score_images(entries, [path], [method], masks_for=masks_for, steps=steps,
                                         batch_size=1, keep_curves=keep_curves))
        except Exception as exc:  # one bad image or method failure must not end the job
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ev.SkippedImage(str(path), f"{method}: {msg}")
        self.images_scored += 1
        return items[0] if items else ev.SkippedImage(str(path), "nothing scored")

    def _score_image(self, job: _ImageJob) -> None:
        try:
            entries = self._entries(job.sources)
        except Exception as exc:
            self.signals.image_failed.emit(job.id, str(exc))
            return
        item = self._score_one(entries, job.path, job.method, job.steps, self._mask_lookup(job.root, job.masks),
                               keep_curves=True)
        if isinstance(item, self._evaluate.SkippedImage):
            self.signals.image_failed.emit(job.id, f"{item.path}: {item.reason}")
        else:
            self.signals.image_done.emit(job.id, item)

    def _entries(self, sources: Sequence[QualityModel]) -> list:
        """Private copies of the models, kept while the sources stay the same."""
        if not sources:
            raise ValueError("no models loaded: load a checkpoint into a slot first")
        kept, entries = {}, []
        for s in sources:
            key = _source_key(s)
            entry = self._copies.get(key) or self._copy(s)
            kept[key] = entry
            entries.append(entry)
        self._copies = kept
        self.signals.models_meta.emit({e.name: dict(e.meta) for e in entries})
        return entries

    def _copy(self, s: QualityModel):
        models = self._models
        if s.path:
            model, meta = models.load_checkpoint(s.path, map_location=self.device)
        elif s.model is not None:
            meta = dict(s.meta)
            n = int(meta.get("num_classes") or len(meta.get("class_names") or []))
            model = models.build_model(meta.get("arch") or s.model.arch, n)
            model.load_state_dict(s.model.state_dict())  # reading weights is safe across threads
            model.eval().to(self.device)
        else:
            raise ValueError(f"model {s.name!r} has neither a checkpoint file nor a model")
        for p in model.parameters():
            p.requires_grad_(False)
        return self._evaluate.ModelEntry(s.name, model, meta, s.path)


def _source_key(s: QualityModel) -> tuple:
    if s.path:
        try:
            st = os.stat(s.path)
            return (s.name, s.path, st.st_mtime_ns, st.st_size)
        except OSError:
            return (s.name, s.path, 0, 0)
    return (s.name, None, id(s.model))


class _Thread(QThread):
    def __init__(self, worker: QualityWorker) -> None:
        super().__init__()
        self.worker = worker
        self.setObjectName("gcam-quality")

    def run(self) -> None:
        self.worker.run()


# ------------------------------------------------------------------------------ pure helpers

def quality_of(score, method: str) -> float:
    """One number per image, lower = worse: mean over models of insertion minus deletion AUC."""
    vals = [m.methods[method].insertion_auc - m.methods[method].deletion_auc
            for m in score.models.values() if method in m.methods]
    return sum(vals) / len(vals) if vals else math.nan


def filter_scores(scores: Sequence, kind: str, method: str) -> list:
    """The images matching a folder filter (FILTERS), in the order to list them."""
    if kind == "all":
        return list(scores)
    if kind == "correct":
        return [s for s in scores if s.models and all(m.correct for m in s.models.values())]
    if kind == "wrong":
        return [s for s in scores if any(m.correct is False for m in s.models.values())]
    if kind == "models disagree":
        return [s for s in scores if not s.models_agree]
    if kind == "lowest quality first":
        rated = [s for s in scores if math.isfinite(quality_of(s, method))]
        return sorted(rated, key=lambda s: quality_of(s, method))
    raise ValueError(f"unknown filter {kind!r}; choose from {', '.join(FILTERS)}")


def _fmt(c: Mapping | None, scale: float = 1.0, digits: int = 3) -> str:
    if not c or c.get("mean") is None:
        return "\u2013"
    return f"{c['mean'] * scale:.{digits}f} [{c['lo'] * scale:.{digits}f}, {c['hi'] * scale:.{digits}f}]"


# -------------------------------------------------------------------------------------- the panel

class QualityPanel(QWidget):
    """Explanation quality for the current image and the current folder (see module docstring)."""

    imageActivated = Signal(str)        # the user double-clicked an image in the folder list
    folderScored = Signal(object)       # summary dict (evaluate.summarize) when a folder job ends

    def __init__(self, models_provider: Callable[[], Iterable], parent: QWidget | None = None, *,
                 device: str = "auto", method: str = "gradcam", steps: int = 20) -> None:
        super().__init__(parent)
        self._provider = models_provider
        self._worker = QualityWorker(device)
        self._thread: _Thread | None = None
        self._next_id = 0
        self._image_job: int | None = None
        self._folder_job: int | None = None
        self._path: str | None = None
        self._image_stale = False
        self._paths: list[str] = []
        self._root: str | None = None
        self._masks: str | None = None
        self._folder_models: list[QualityModel] = []
        self._class_map: dict[str, list[str]] = {}
        self._metas: dict[str, dict] = {}
        self.image_score = None
        self.scores: list = []
        self.skipped: list = []
        self.summary: dict | None = None

        sig = self._worker.signals
        sig.ready.connect(self._on_ready)
        sig.models_meta.connect(self._on_models_meta)
        sig.failed.connect(self._on_failed)
        sig.image_done.connect(self._on_image_done)
        sig.image_failed.connect(self._on_image_failed)
        sig.folder_started.connect(self._on_folder_started)
        sig.folder_item.connect(self._on_folder_item)
        sig.folder_finished.connect(self._on_folder_finished)
        sig.folder_failed.connect(self._on_folder_failed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(300)  # re-summarise at most ~3x a second while scoring
        self._summary_timer.timeout.connect(self._refresh_summary)
        self._build_ui(method, steps)

    # -- UI ------------------------------------------------------------------------------------
    def _build_ui(self, method: str, steps: int) -> None:
        self.method_box = QComboBox()
        self.method_box.addItem(method)
        self.method_box.setToolTip("Explanation method to score")
        self.method_box.currentTextChanged.connect(self._settings_changed)
        self.steps_box = QSpinBox()
        self.steps_box.setRange(2, 200)
        self.steps_box.setValue(steps)
        self.steps_box.setToolTip("Deletion / insertion steps: each costs one forward per model and curve")
        self.steps_box.valueChanged.connect(self._settings_changed)
        self.status = QLabel()
        self.status.setObjectName("qualityStatus")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(QLabel("Method"))
        top.addWidget(self.method_box)
        top.addWidget(QLabel("Steps"))
        top.addWidget(self.steps_box)
        top.addWidget(self.status, 1)

        # this image
        self.deletion_plot = self._plot("Deletion", "fraction of pixels removed")
        self.insertion_plot = self._plot("Insertion", "fraction of pixels revealed")
        plots = QHBoxLayout()
        plots.addWidget(self.deletion_plot)
        plots.addWidget(self.insertion_plot)
        self.image_table = QTableWidget(0, 6)
        self.image_table.setHorizontalHeaderLabels(["model", "prediction", "deletion AUC \u2193",
                                                    "insertion AUC \u2191", "pointing", "energy in mask"])
        self._table_style(self.image_table)
        image_tab = QWidget()
        lay = QVBoxLayout(image_tab)
        lay.addLayout(plots, 3)
        lay.addWidget(self.image_table, 1)

        # this folder
        self.folder_label = QLabel("No folder")
        self.score_button = QPushButton("Score folder")
        self.score_button.setToolTip("Score every image of the folder with every model (runs in the background)")
        self.score_button.clicked.connect(self.start_folder)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_folder)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        row = QHBoxLayout()
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.progress, 1)
        row.addWidget(self.score_button)
        row.addWidget(self.cancel_button)
        self.folder_table = QTableWidget(0, 3 + len(METRIC_COLUMNS))
        self.folder_table.setHorizontalHeaderLabels(["model", "images", "accuracy %", *METRIC_TITLES])
        self._table_style(self.folder_table)
        self.answer = QLabel()
        self.answer.setWordWrap(True)
        self.answer.setTextFormat(Qt.TextFormat.MarkdownText)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter_box = QComboBox()
        self.filter_box.addItems(FILTERS)
        self.filter_box.currentTextChanged.connect(self._refresh_list)
        self.image_list = QListWidget()
        self.image_list.itemActivated.connect(lambda it: self.imageActivated.emit(it.data(Qt.ItemDataRole.UserRole)))
        frow = QHBoxLayout()
        frow.addWidget(QLabel("Show"))
        frow.addWidget(self.filter_box)
        frow.addStretch(1)
        folder_tab = QWidget()
        lay = QVBoxLayout(folder_tab)
        lay.addLayout(row)
        lay.addWidget(self.folder_table, 2)
        lay.addWidget(self.answer)
        lay.addLayout(frow)
        lay.addWidget(self.image_list, 3)

        self.tabs = QTabWidget()
        self.tabs.addTab(image_tab, "This image")
        self.tabs.addTab(folder_tab, "This folder")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addLayout(top)
        outer.addWidget(self.tabs, 1)

    @staticmethod
    def _plot(title: str, xlabel: str) -> pg.PlotWidget:
        w = pg.PlotWidget(title=title)
        w.setLabel("bottom", xlabel)
        w.setLabel("left", "target probability")
        w.setXRange(0, 1, padding=0.02)
        w.setYRange(0, 1, padding=0.02)
        w.showGrid(x=True, y=True, alpha=0.25)
        w.setMouseEnabled(x=False, y=False)
        w.addLegend(offset=(-10, 10))
        w.setMinimumSize(160, 140)
        return w

    @staticmethod
    def _table_style(t: QTableWidget) -> None:
        t.verticalHeader().setVisible(False)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        t.horizontalHeader().setStretchLastSection(True)

    # -- public API ----------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.method_box.currentText()

    @property
    def steps(self) -> int:
        return int(self.steps_box.value())

    def set_image(self, path: str | os.PathLike | None) -> None:
        """The image the viewer shows; scored now if the panel is visible, else when shown."""
        self._path = str(path) if path else None
        self.image_score = None
        self._clear_image()
        if self._path is None:
            self._image_job = None
            return
        self._image_stale = True
        if self.isVisible():
            self._request_image()

    def set_folder(self, paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> None:
        """The folder's images (scored when the user presses Score folder). `root` is the folder
        itself, for masks mirrored under a masks folder (set_masks_dir)."""
        self.cancel_folder()
        self._paths = [str(p) for p in paths]
        self._root = str(root) if root else None
        self.scores, self.skipped, self.summary = [], [], None
        self.folder_table.setRowCount(0)
        self.image_list.clear()
        self.answer.clear()
        self.progress.setRange(0, max(1, len(self._paths)))
        self.progress.setValue(0)
        self.folder_label.setText(f"{len(self._paths)} images" if self._paths else "No folder")
        self.score_button.setEnabled(bool(self._paths))

    def set_masks_dir(self, path: str | os.PathLike | None) -> None:
        """Masks mirroring the folder (MASKS/<class>/<name>.png); None: find them by the
        synthetic set's layout (images/ beside masks/)."""
        self._masks = str(path) if path else None
        self.refresh()

    def refresh(self) -> None:
        """Models or settings changed: rescore the current image (folder results are kept
        until the user scores again)."""
        if self._path:
            self._image_stale = True
            if self.isVisible():
                self._request_image()

    def start_folder(self) -> None:
        if not self._paths:
            return
        sources = self._sources()
        if not sources:
            self.status.setText("No models loaded")
            return
        self._start_thread()
        self._next_id += 1
        self._folder_job = self._next_id
        self._folder_models = sources
        self.scores, self.skipped, self.summary = [], [], None
        self.image_list.clear()
        self.folder_table.setRowCount(0)
        self.answer.clear()
        self.progress.setRange(0, len(self._paths))
        self.progress.setValue(0)
        self.score_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._worker.start_folder(_FolderJob(self._folder_job, tuple(self._paths), self.method, self.steps,
                                             tuple(sources), self._root, self._masks))

    def cancel_folder(self) -> None:
        if self._folder_job is not None:
            self._worker.cancel_folder()
            self.status.setText("Cancelling\u2026")
        self.cancel_button.setEnabled(False)

    @property
    def folder_running(self) -> bool:
        return self._folder_job is not None

    def shutdown(self) -> None:
        """Stop the worker and wait for its thread (the image being scored finishes first)."""
        self._summary_timer.stop()
        self._worker.stop()
        if self._thread is not None:
            self._thread.wait()
            self._thread = None

    def thread_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    # -- internals -----------------------------------------------------------------------------
    def _sources(self) -> list[QualityModel]:
        try:
            sources = coerce_models(self._provider())
        except Exception as exc:
            self.status.setText(f"cannot list the models: {exc}")
            return []
        for s in sources:  # for labels; a checkpoint path alone gets its names from the results
            if s.meta.get("class_names"):
                self._class_map[s.name] = list(s.meta["class_names"])
        return sources

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = track(_Thread(self._worker))
            self._thread.start(QThread.Priority.LowPriority)
            self.status.setText("Loading the engine\u2026")

    def _request_image(self) -> None:
        self._image_stale = False
        sources = self._sources()
        if not sources:
            self.status.setText("No models loaded")
            return
        self._start_thread()
        self._next_id += 1
        self._image_job = self._next_id
        self.status.setText(f"Scoring {Path(self._path).name}\u2026")
        self._worker.request_image(_ImageJob(self._image_job, self._path, self.method, self.steps,
                                             tuple(sources), self._root, self._masks))

    def _settings_changed(self, *_) -> None:
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._image_stale and self._path:
            self._request_image()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def _clear_image(self) -> None:
        for plot in (self.deletion_plot, self.insertion_plot):
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.image_table.setRowCount(0)

    # -- worker results (UI thread) ------------------------------------------------------------
    def _on_ready(self, methods: list) -> None:
        current = self.method
        self.method_box.blockSignals(True)
        self.method_box.clear()
        self.method_box.addItems(methods)
        self.method_box.setCurrentText(current if current in methods else (methods[0] if methods else current))
        self.method_box.blockSignals(False)
        if self.status.text().startswith("Loading"):
            self.status.setText("")

    def _on_models_meta(self, metas: dict) -> None:
        self._metas.update(metas)
        for name, meta in metas.items():
            if meta.get("class_names"):
                self._class_map[name] = list(meta["class_names"])

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self._folder_job = None  # nothing will run: leave no job looking alive
        self.score_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        if self._thread is not None:  # the loop has returned already
            self._thread.wait()
            self._thread = None

    def _on_image_done(self, job_id: int, score) -> None:
        if job_id != self._image_job:
            return  # an older image's result
        self.image_score = score
        self._clear_image()
        self.status.setText(f"{Path(score.path).name}: " + ("mask found" if score.mask else "no object mask"))
        self.image_table.setRowCount(len(score.models))
        for row, (name, ms) in enumerate(score.models.items()):
            colour = PALETTE[row % len(PALETTE)]
            m = ms.methods.get(self.method) or next(iter(ms.methods.values()))
            fr = [k / (len(m.deletion_curve) - 1) for k in range(len(m.deletion_curve))]
            pen = pg.mkPen(colour, width=2)
            self.deletion_plot.plot(fr, m.deletion_curve, pen=pen, name=f"{name} ({m.deletion_auc:.3f})")
            self.insertion_plot.plot(fr, m.insertion_curve, pen=pen, name=f"{name} ({m.insertion_auc:.3f})")
            names = self._class_names(name)
            label = names[ms.pred] if 0 <= ms.pred < len(names) else str(ms.pred)
            mark = "" if ms.correct is None else (" \u2713" if ms.correct else " \u2717")
            point = ("no mask" if not math.isfinite(m.pointing_game)
                     else "hit" if m.pointing_game >= 1 else "miss")
            energy = f"{m.energy_in_mask:.2f}" if math.isfinite(m.energy_in_mask) else "\u2013"
            cells = [name, f"{label} {ms.prob:.0%}{mark}", f"{m.deletion_auc:.3f}", f"{m.insertion_auc:.3f}",
                     point, energy]
            for col, text in enumerate(cells):
                self.image_table.setItem(row, col, QTableWidgetItem(text))

    def _class_names(self, model_name: str) -> list[str]:
        return self._class_map.get(model_name, [])

    def _on_image_failed(self, job_id: int, message: str) -> None:
        if job_id == self._image_job:
            self.status.setText(message)

    def _on_folder_started(self, job_id: int, total: int, names: list) -> None:
        if job_id == self._folder_job:
            self.status.setText(f"Scoring {total} images with {', '.join(names)}\u2026")

    def _on_folder_item(self, job_id: int, item, done: int, total: int) -> None:
        if job_id != self._folder_job:
            return
        if hasattr(item, "models"):
            self.scores.append(item)
        else:
            self.skipped.append(item)
        self.progress.setValue(done)
        if not self._summary_timer.isActive():
            self._summary_timer.start()

    def _on_folder_finished(self, job_id: int, cancelled: bool) -> None:
        if job_id != self._folder_job:
            return
        self._folder_job = None
        self.score_button.setEnabled(bool(self._paths))
        self.cancel_button.setEnabled(False)
        self._summary_timer.stop()
        self._refresh_summary()
        done = len(self.scores) + len(self.skipped)
        self.status.setText(f"{'Cancelled after' if cancelled else 'Scored'} {done} images"
                            + (f" ({len(self.skipped)} skipped)" if self.skipped else ""))
        if self.summary is not None:
            self.folderScored.emit(self.summary)

    def _on_folder_failed(self, job_id: int, message: str) -> None:
        if job_id != self._folder_job:
            return
        self._folder_job = None
        self.score_button.setEnabled(bool(self._paths))
        self.cancel_button.setEnabled(False)
        self.status.setText(message)

    def _refresh_summary(self) -> None:
        if not self.scores:
            return
        from gcam_desktop import evaluation as ev  # loaded by the worker by now

        entries = [ev.ModelEntry(s.name, None, self._metas.get(s.name) or dict(s.meta), s.path)
                   for s in self._folder_models]
        names = {n for sc in self.scores for n in sc.models}
        entries = [e for e in entries if e.name in names]
        final = self._folder_job is None
        self.summary = ev.summarize(self.scores, entries, [self.method], resamples=2000 if final else 300)
        self.folder_table.setRowCount(len(self.summary["models"]))
        for row, m in enumerate(self.summary["models"]):
            b = m["methods"][self.method]
            cells = [m["name"], str(b["deletion_auc"]["n"]), _fmt(m["accuracy"], 100, 1)]
            for key in METRIC_COLUMNS:
                pct = key in ("average_drop", "increase_in_confidence")
                cells.append(_fmt(b[key], 1, 1 if pct else 3))
            for col, text in enumerate(cells):
                self.folder_table.setItem(row, col, QTableWidgetItem(text))
        self.answer.setText(self.summary["answer"])
        self._refresh_list()

    def _refresh_list(self, *_) -> None:
        self.image_list.clear()
        for s in filter_scores(self.scores, self.filter_box.currentText(), self.method):
            preds = ", ".join(f"{n}: {self._label(n, m.pred)}{'' if m.correct is None else ' ✓' if m.correct else ' ✗'}"
                              for n, m in s.models.items())
            q = quality_of(s, self.method)
            item = QListWidgetItem(f"{Path(s.path).name}  \u2014  {preds}  \u2014  quality {q:+.3f}")
            item.setData(Qt.ItemDataRole.UserRole, s.path)
            item.setToolTip(s.path)
            self.image_list.addItem(item)

    def _label(self, model_name: str, idx: int) -> str:
        names = self._class_names(model_name)
        return names[idx] if 0 <= idx < len(names) else str(idx)
