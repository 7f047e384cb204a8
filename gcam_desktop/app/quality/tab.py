"""The Quality tab: how good are the explanations, for the current image and for a folder.

This image: deletion and insertion curves per model (pyqtgraph) and, where an object mask
exists, the pointing-game result and the energy inside the mask. This folder: a background
job that scores every image with every model and fills a table per model (mean and 95 %
interval of each metric, accuracy; the baseline maps of explain/baselines.py beside the method,
with whether the method beats each, paired and Holm-adjusted), answers whether SE / s_se
attention points at the object more often than the baseline, and filters the images: correct, wrong, models disagree,
lowest quality first. Sanity (sanity_view.py): can the maps be believed? The parameter-
randomisation cascade and the class-sensitivity test for the current image or the folder's first
images, on the same worker.

Self-contained: the tab is built with a callable returning the models to score (name, meta,
and a checkpoint path or an in-memory model); all work runs in its QualityWorker (worker.py),
on the worker's own copies of the models.

    tab = QualityTab(lambda: [QualityModel(name, meta, path=ckpt), ...])
    tab.imageActivated.connect(window.show_image)
    tab.set_image(path); tab.set_folder(paths, root=folder)
    tab.shutdown()  # from the window's closeEvent (also hooked to aboutToQuit)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from PySide6.QtCore import QCoreApplication, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QTabWidget, QVBoxLayout, QWidget

from gcam_desktop.app.quality.folder_view import FolderScoresView
from gcam_desktop.app.quality.image_view import ImageScoresView
from gcam_desktop.app.quality.sanity_view import SanityView
from gcam_desktop.app.quality.sources import QualityModel, ScoreJob, coerce_models
from gcam_desktop.app.quality.worker import QualityWorker


def quality_method_label(method: str) -> str:
    """The method's name as the Compare tab shows it, with the layer the scores explain."""
    from gcam_desktop.explain.names import LAYER_METHODS, method_label

    return f"{method_label(method)} \u00b7 each model's default layer" if method in LAYER_METHODS else method_label(method)


class QualityTab(QWidget):
    """Explanation quality for the current image and the current folder (see module docstring)."""

    imageActivated = Signal(str)        # the user double-clicked an image in the folder list
    folderScored = Signal(object)       # summary dict (evaluate.summarize) when a folder job ends
    sanityVerdicts = Signal(list)       # the Sanity section's verdicts so far (common/sanity_verdicts.py)

    def __init__(self, models_provider: Callable[[], Iterable], parent: QWidget | None = None, *,
                 device: str = "auto", method: str = "gradcam", steps: int = 20) -> None:
        super().__init__(parent)
        self._provider = models_provider
        self.worker = QualityWorker(device)
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

        w = self.worker
        w.ready.connect(self._on_ready)
        w.models_meta.connect(self._on_models_meta)
        w.failed.connect(self._on_failed)
        w.image_done.connect(self._on_image_done)
        w.image_failed.connect(self._on_image_failed)
        w.folder_started.connect(self._on_folder_started)
        w.folder_item.connect(self._on_folder_item)
        w.folder_finished.connect(self._on_folder_finished)
        w.folder_failed.connect(self._on_folder_failed)
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
        self.method_box.addItem(quality_method_label(method), method)
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

        self.image_view = ImageScoresView()
        self.folder_view = FolderScoresView()
        fv = self.folder_view
        fv.score_button.clicked.connect(self.start_folder)
        fv.cancel_button.clicked.connect(self.cancel_folder)
        fv.filter_box.currentTextChanged.connect(self._refresh_list)
        fv.imageActivated.connect(self.imageActivated)

        self.sanity_view = SanityView(self.worker, self._sanity_sources, lambda: self._path, lambda: list(self._paths))
        self.sanity_view.verdicts_changed.connect(self.sanityVerdicts)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.image_view, "This image")
        self.tabs.addTab(self.folder_view, "This folder")
        self.tabs.addTab(self.sanity_view, "Sanity")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addLayout(top)
        outer.addWidget(self.tabs, 1)

    # -- public API ----------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.method_box.currentData() or self.method_box.currentText()

    @property
    def steps(self) -> int:
        return int(self.steps_box.value())

    def set_image(self, path: str | os.PathLike | None) -> None:
        """The image the viewer shows; scored now if the panel is visible, else when shown."""
        self._path = str(path) if path else None
        self.image_score = None
        self.sanity_view.image_changed(self._path)
        self.image_view.clear()
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
        self.folder_view.clear(len(self._paths))
        self.folder_view.label.setText(f"{len(self._paths)} images" if self._paths else "No folder")
        self.folder_view.score_button.setEnabled(bool(self._paths))
        self.sanity_view.image_changed(self._path)  # its Check first N follows the folder

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
        job = self._new_job(tuple(self._paths))
        if job is None:
            return
        self._folder_job = job.id
        self._folder_models = list(job.sources)
        self.scores, self.skipped, self.summary = [], [], None
        self.folder_view.clear(len(self._paths))
        self.folder_view.set_running(True, True)
        self.worker.start_folder(job)

    def cancel_folder(self) -> None:
        if self._folder_job is not None:
            self.worker.cancel_folder()
            self.status.setText("Cancelling\u2026")
        self.folder_view.cancel_button.setEnabled(False)

    @property
    def image_path(self) -> str | None:
        """The image the viewer shows (scored when the tab is visible)."""
        return self._path

    @property
    def folder_paths(self) -> list[str]:
        return list(self._paths)

    @property
    def folder_root(self) -> str | None:
        return self._root

    @property
    def folder_running(self) -> bool:
        return self._folder_job is not None

    def shutdown(self) -> None:
        """Stop the worker and wait for its thread (the image being scored finishes first)."""
        self._summary_timer.stop()
        self.worker.shutdown()

    def thread_running(self) -> bool:
        return self.worker.isRunning()

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

    def _new_job(self, paths: tuple[str, ...]) -> ScoreJob | None:
        """A job over `paths` with the current models and settings, the worker started; None
        (and a status line) without models."""
        sources = self._sources()
        if not sources:
            self.status.setText("No models loaded")
            return None
        if not self.worker.isRunning():
            self.worker.start()
            self.status.setText("Loading the engine\u2026")
        self._next_id += 1
        return ScoreJob(self._next_id, paths, self.method, self.steps, tuple(sources), self._root, self._masks)

    def _sanity_sources(self) -> list[QualityModel]:
        """The models for a sanity check, the worker started; [] (and a status line) without models."""
        sources = self._sources()
        if sources and not self.worker.isRunning():
            self.worker.start()
        return sources

    def _request_image(self) -> None:
        self._image_stale = False
        job = self._new_job((self._path,))
        if job is None:
            return
        self._image_job = job.id
        self.status.setText(f"Scoring {Path(self._path).name}\u2026")
        self.worker.request_image(job)

    def _settings_changed(self, *_) -> None:
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._image_stale and self._path:
            self._request_image()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- worker results (UI thread) ------------------------------------------------------------
    def _on_ready(self, methods: list) -> None:
        current = self.method
        self.method_box.blockSignals(True)
        self.method_box.clear()
        for m in methods:  # named as on the Compare tab, with the layer scored
            self.method_box.addItem(quality_method_label(m), m)
        want = current if current in methods else (methods[0] if methods else current)
        self.method_box.setCurrentIndex(max(0, self.method_box.findData(want)))
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
        self.folder_view.set_running(False, False)
        self.sanity_view.fail(message)
        self.worker.wait()  # the loop has returned already; a later job starts it again

    def _on_image_done(self, job_id: int, score) -> None:
        if job_id != self._image_job:
            return  # an older image's result
        self.image_score = score
        # Name the folder and the image; a mask rescaled or refused is said, as gcam-evaluate does.
        where = f"{Path(score.path).name} in {Path(score.path).parent}"
        mask = score.mask_note or ("object mask found" if score.mask else "no object mask for this image")
        self.status.setText(f"{where}: {mask}")
        self.status.setToolTip(score.mask or "")
        self.image_view.show_score(score, self.method, self._label)

    def _on_image_failed(self, job_id: int, message: str) -> None:
        if job_id == self._image_job:
            self.status.setText(message)

    def _on_folder_started(self, job_id: int, total: int, names: list) -> None:
        if job_id == self._folder_job:
            self.status.setText(f"Scoring {total} images with {', '.join(names)}\u2026")

    def _on_folder_item(self, job_id: int, item, done: int, total: int) -> None:
        if job_id != self._folder_job:
            return
        from gcam_desktop.evaluation import SkippedImage  # loaded by the worker by now

        if isinstance(item, SkippedImage):
            self.skipped.append(item)
        else:
            self.scores.append(item)
        self.folder_view.progress.setValue(done)
        if not self._summary_timer.isActive():
            self._summary_timer.start()

    def _on_folder_finished(self, job_id: int, cancelled: bool) -> None:
        if job_id != self._folder_job:
            return
        self._folder_job = None
        self.folder_view.set_running(False, bool(self._paths))
        self._summary_timer.stop()
        self._refresh_summary()
        done = len(self.scores) + len(self.skipped)
        notes = [f"{Path(s.path).name}: {s.mask_note}" for s in self.scores if s.mask_note]
        self.status.setText(f"{'Cancelled after' if cancelled else 'Scored'} {done} images of {self._root or 'the folder'}"
                            + (f" ({len(self.skipped)} skipped)" if self.skipped else "")
                            + (f"; {len(notes)} masks rescaled or not used (hover for which)" if notes else ""))
        self.status.setToolTip("\n".join(notes))
        if self.summary is not None:
            self.folderScored.emit(self.summary)

    def _on_folder_failed(self, job_id: int, message: str) -> None:
        if job_id != self._folder_job:
            return
        self._folder_job = None
        self.folder_view.set_running(False, bool(self._paths))
        self.status.setText(message)

    def _refresh_summary(self) -> None:
        if not self.scores:
            return
        from gcam_desktop import evaluation as ev  # loaded by the worker by now
        from gcam_desktop.explain.baselines import BASELINES

        entries = [ev.ModelEntry(s.name, None, self._metas.get(s.name) or dict(s.meta), s.path)
                   for s in self._folder_models]
        names = {n for sc in self.scores for n in sc.models}
        entries = [e for e in entries if e.name in names]
        final = self._folder_job is None
        # The baseline maps' rows and the paired tests of the method against each (issue 20), once
        # the folder is done: the tests' Holm correction (statsmodels) runs a full gc.collect, a
        # few tenths of a second in this process, too long to repeat on this thread per image.
        self.summary = ev.summarize(self.scores, entries, [self.method], resamples=2000 if final else 300,
                                    baselines=BASELINES if final else ())
        self.folder_view.show_summary(self.summary, self.method)
        self._refresh_list()

    def _refresh_list(self, *_) -> None:
        self.folder_view.show_list(self.scores, self.method, self._label)

    def _label(self, model_name: str, idx: int) -> str:
        names = self._class_map.get(model_name, [])
        return names[idx] if 0 <= idx < len(names) else str(idx)
