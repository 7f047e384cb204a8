"""The Strategies tab: the model's strategies across a folder (SpRAy, Lapuschkin et al. 2019).

For the image list's folder, a loaded model, a method, a layer and a class (or every class):
explain every image, cluster the maps (gcam_desktop.strategies: spectral clustering, k by the
eigengap unless the user sets it), and show the images' 2-D layout coloured by cluster (a
thumbnail on hover), the eigenvalues with the eigengap marked, and the clusters with their mean
maps, sizes and accuracies. Clicking a point or a member opens that image on the Compare tab.
With a ResNet50 and its SE / s_se variants loaded, each variant's clustering of the same class
is compared with the baseline's (adjusted Rand index, and how many images change company).

The job runs on the tab's own StrategiesWorker (worker.py) with its own copy of the model, so
the Compare tab never waits; results are kept for the session per (folder, model, method,
layer, class) in a ByteBoundedCache, so going back to an earlier choice shows it at once
(docs/adr/0032).

    tab = StrategiesTab(models_provider, thumbnails=loader.get)
    tab.imageActivated.connect(window.show_image)
    tab.set_folder(paths, root)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.strategies.cluster_list import ClusterList
from gcam_desktop.app.strategies.eigen_plot import EigenPlot
from gcam_desktop.app.strategies.result_view import ClassesRun, ResultView, nbytes, split_by_class, variant_comparisons
from gcam_desktop.app.strategies.scatter import StrategyScatter
from gcam_desktop.app.strategies.sources import ALL_CLASSES, AUTO_K, StrategiesJob, StrategyModel
from gcam_desktop.app.strategies.worker import StrategiesWorker

CACHE_BYTES = 256 * 1024 * 1024
STAGES = {"duplicates": "looking for near-duplicates", "explaining": "explaining", "clustering": "clustering classes"}
MAX_K = 20
PLACEHOLDER = ("Open a folder of images (File \u203a Open folder), load a model into a slot, pick a method and "
               "a class, and press Run: the maps of the class are clustered into the model's strategies.")


class StrategiesTab(QWidget):
    imageActivated = Signal(str)        # a point or a cluster member was clicked
    resultShown = Signal(object)        # the ResultView now shown

    def __init__(self, models_provider: Callable[[], Sequence[StrategyModel]],
                 thumbnails: Callable[[str], QImage | None] | None = None, parent: QWidget | None = None, *,
                 device: str = "auto") -> None:
        super().__init__(parent)
        self._provider = models_provider
        self._models: list[StrategyModel] = []
        self._paths: list[str] = []
        self._root: str | None = None
        self._next_id = 0
        self._queue: list[StrategiesJob] = []     # the chosen model's job, then the variants'
        self._running: StrategiesJob | None = None
        self._shown_key: tuple | None = None
        self._main_key: tuple | None = None        # the run's own choice (the variants only compare)
        self._summary = ""                          # the shown result's status line
        self.cache: ByteBoundedCache = ByteBoundedCache(CACHE_BYTES, nbytes)
        self.view: ResultView | None = None
        self.worker = StrategiesWorker(device)
        w = self.worker
        w.failed_engine.connect(self._on_engine_failed)
        w.started_job.connect(self._on_started)
        w.progress.connect(self._on_progress)
        w.finished_job.connect(self._on_finished)
        w.cancelled_job.connect(self._on_cancelled)
        w.failed_job.connect(self._on_failed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._build_ui(thumbnails)
        self.refresh_models()

    # -- UI ------------------------------------------------------------------------------------
    def _build_ui(self, thumbnails) -> None:
        from gcam_desktop.explain.names import METHODS, method_label

        self.folder_label = QLabel("No folder")
        self.folder_label.setObjectName("strategiesFolder")
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.model_box = QComboBox()
        self.model_box.setToolTip("The loaded model whose explanations are clustered")
        self.method_box = QComboBox()
        for m in METHODS:
            self.method_box.addItem(method_label(m), m)
        self.method_box.setCurrentIndex(max(0, self.method_box.findData("gradcam")))
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Layer whose activations the CAM methods explain")
        self.class_box = QComboBox()
        self.class_box.setToolTip("Cluster the maps of the images the model puts in this class (SpRAy's "
                                  "unit), or of every image, each explained for its own prediction")
        self.k_box = QSpinBox()
        self.k_box.setRange(0, MAX_K)
        self.k_box.setSpecialValueText("auto")
        self.k_box.setToolTip("Number of clusters; auto: chosen by the largest eigengap")
        self.compare_box = QCheckBox("Compare variants")
        self.compare_box.setChecked(True)
        self.compare_box.setToolTip("With a ResNet50 and its SE / s_se variants loaded, cluster each with the "
                                    "same settings and compare with the baseline (adjusted Rand index)")
        self.duplicates_box = QCheckBox("Collapse near-duplicates")
        self.duplicates_box.setChecked(True)
        self.duplicates_box.setToolTip("Fold near-duplicate pictures (deep hash) into one before clustering, so copies "
                                       "do not make a cluster of their own; untick where distinct pictures look alike "
                                       "to the hash (small synthetic images)")
        self.duplicates_box.toggled.connect(self._choice_changed)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m")
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.method_box.currentIndexChanged.connect(self._choice_changed)
        self.model_box.currentIndexChanged.connect(self._model_changed)
        for box in (self.layer_box, self.class_box):
            box.currentIndexChanged.connect(self._choice_changed)
        self.k_box.valueChanged.connect(self._choice_changed)

        # Two rows of their own (not a grid: a grid's shared columns added the widths of both
        # rows' widest cells and pushed the tab past 1024 px).
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(QLabel("Folder"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.duplicates_box)
        top.addWidget(self.compare_box)
        top.addWidget(self.progress)
        form = QHBoxLayout()
        form.setSpacing(6)
        for label, widget, stretch in (("Model", self.model_box, 3), ("Method", self.method_box, 2),
                                       ("Layer", self.layer_box, 3), ("Class", self.class_box, 2),
                                       ("k", self.k_box, 0)):
            form.addWidget(QLabel(label))
            form.addWidget(widget, stretch)
        form.addWidget(self.run_button)
        form.addWidget(self.cancel_button)
        for box in (self.model_box, self.method_box, self.layer_box, self.class_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)

        self.scatter = StrategyScatter(thumbnails)
        self.scatter.imageClicked.connect(self.imageActivated)
        self.eigen = EigenPlot()
        self.eigen.setMinimumHeight(130)
        self.clusters = ClusterList(thumbnails)
        self.clusters.memberClicked.connect(self.imageActivated)
        self.clusters.clusterChosen.connect(self.scatter.emphasise)
        self.status = QLabel(PLACEHOLDER)
        self.status.setObjectName("strategiesStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.variants = QLabel()
        self.variants.setObjectName("strategiesVariants")
        self.variants.setWordWrap(True)
        self.variants.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.variants.setToolTip("Adjusted Rand index of each variant's clusters against the baseline's, over the "
                                 "images both put in this class: 1 the same grouping, 0 no more alike than chance")
        self.variants.hide()

        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.eigen)
        side.addWidget(self.clusters)
        side.setStretchFactor(0, 1)
        side.setStretchFactor(1, 3)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.scatter)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        outer.addLayout(top)
        outer.addLayout(form)
        outer.addWidget(self.splitter, 1)
        outer.addWidget(self.variants)
        outer.addWidget(self.status)

    # -- public API ----------------------------------------------------------------------------
    def set_folder(self, paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None) -> None:
        """The image list's folder: its images are what a run explains."""
        self._paths = [str(p) for p in paths]
        self._root = str(root) if root else (str(Path(self._paths[0]).parent) if self._paths else None)
        n = len(self._paths)
        self.folder_label.setText(f"{self._root} \u2014 {n:,} image{'s' if n != 1 else ''}" if self._root else "No folder")
        self.folder_label.setToolTip(self._root or "")
        self._choice_changed()

    def refresh_models(self) -> None:
        """The slots changed: offer the loaded models, keeping the chosen one when it is still there."""
        try:
            models = list(self._provider())
        except Exception as exc:
            self.status.setText(f"cannot list the models: {exc}")
            models = []
        current = self.model
        self._models = models
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for m in models:
            self.model_box.addItem(m.label, m.slot)
        if current is not None:
            i = next((j for j, m in enumerate(models) if m.slot == current.slot), -1)
            self.model_box.setCurrentIndex(max(0, i))
        self.model_box.blockSignals(False)
        self._model_changed()

    @property
    def model(self) -> StrategyModel | None:
        i = self.model_box.currentIndex()
        return self._models[i] if 0 <= i < len(self._models) else None

    @property
    def method(self) -> str:
        return self.method_box.currentData() or "gradcam"

    @property
    def layer(self) -> str:
        return self.layer_box.currentData() or "" if self.layer_box.isEnabled() else ""

    @property
    def class_index(self) -> int | None:
        data = self.class_box.currentData()
        return ALL_CLASSES if data is None or data < 0 else int(data)

    @property
    def k(self) -> int | None:
        return AUTO_K if self.k_box.value() == 0 else int(self.k_box.value())

    @property
    def running(self) -> bool:
        return self._running is not None or bool(self._queue)

    def run(self) -> None:
        """Analyse the folder with the chosen settings: from the session's cache when it holds the
        result, else as a background job (with the variants' jobs after it, to compare)."""
        model = self.model
        if not self._paths:
            self.status.setText("No folder: open a folder of images first (File \u203a Open folder)")
            return
        if model is None:
            self.status.setText("No model loaded: load a checkpoint into a slot first")
            return
        self.cancel()
        wanted = [model] + (self._variants_of(model) if self.compare_box.isChecked() else [])
        jobs = [self._job(m) for m in wanted]
        self._queue = [j for j in jobs if j.class_index != -1 and self._lookup(j) is None]
        self._main_key = jobs[0].key
        if not self._show_cached():
            self._clear_view()
        self._next_job()

    def cancel(self) -> None:
        queued, self._queue = self._queue, []
        for job in queued:
            job.stop.set()
        if self._running is not None:
            self.worker.cancel_job(self._running)
            self.status.setText("Cancelling\u2026")
        self.cancel_button.setEnabled(False)

    def thumbnail_ready(self, path: str) -> None:
        """The window's thumbnail loader has `path` now (hover picture, member icons)."""
        self.scatter.refresh_tip(path)
        self.clusters.thumbnail_ready(path)

    def shutdown(self) -> None:
        self.cancel()
        self.worker.shutdown()

    def thread_running(self) -> bool:
        return self.worker.isRunning()

    # -- internals -----------------------------------------------------------------------------
    def _job(self, model: StrategyModel, class_index: int | None | str = "chosen") -> StrategiesJob:
        self._next_id += 1
        cls = self._class_for(model) if class_index == "chosen" else class_index
        return StrategiesJob(self._next_id, self._root or "", tuple(self._paths), model, self.method,
                             self._layer_for(model), cls, self.k, self.duplicates_box.isChecked())

    def _layer_for(self, model: StrategyModel) -> str:
        """The chosen layer where `model` has it, else its default."""
        layer = self.layer
        return layer if not model.layers or layer in model.layers else ""

    def _class_for(self, model: StrategyModel, index: int | None | str = "chosen") -> int | None:
        """A class of the chosen model (the chosen one by default) in `model`'s own numbering, found
        by name (variants may order classes differently); -1 where `model` lacks it."""
        index = self.class_index if index == "chosen" else index
        chosen = self.model
        if index is None or chosen is None or model.slot == chosen.slot:
            return index
        names = chosen.class_names
        name = names[index] if 0 <= index < len(names) else None
        return model.class_names.index(name) if name in model.class_names else -1

    def _lookup(self, job: StrategiesJob) -> list | None:
        """The cached results of `job`'s choice, one per class; None when not all are cached."""
        found = self.cache.get(job.key)
        if found is None:
            return None
        if isinstance(found, ClassesRun):
            results = [self.cache.get(k) for k in found.keys]
            return None if any(r is None for r in results) else results
        return [found]

    def _store(self, job: StrategiesJob, result) -> None:
        """Cached per class, so each class of an every-class run is at hand on its own."""
        parts = split_by_class(result)
        if job.class_index is None:
            keys = []
            for index, part in parts.items():
                key = dataclasses.replace(job, class_index=index).key
                self.cache.put(key, part)
                keys.append(key)
            self.cache.put(job.key, ClassesRun(tuple(keys)))
        else:
            self.cache.put(job.key, parts.get(job.class_index, result))

    def _variants_of(self, model: StrategyModel) -> list[StrategyModel]:
        """The other loaded ResNet50 variants with the same classes (compared with the baseline)."""
        from gcam_desktop.models.names import RESNET_ARCHS

        if model.arch not in RESNET_ARCHS:
            return []
        others = [m for m in self._models if m.slot != model.slot and m.arch in RESNET_ARCHS and m.arch != model.arch
                  and sorted(m.class_names) == sorted(model.class_names)]
        archs = {model.arch} | {m.arch for m in others}
        return others if RESNET_ARCHS[0] in archs and len(archs) > 1 else []

    def _next_job(self) -> None:
        while self._queue:
            job = self._queue.pop(0)
            if job.class_index == -1:
                continue   # a variant without the chosen class: nothing to compare
            self._running = job
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(True)
            self.progress.setRange(0, max(1, len(job.paths)))
            self.progress.setValue(0)
            self.progress.show()
            self.status.setText(f"{job.model.label}: loading\u2026")
            self.worker.run_job(job)
            return
        self._running = None
        self.cancel_button.setEnabled(False)
        self.progress.hide()
        if self.view is not None and not self.status.text().startswith(("Cancel", "No ")):
            self.status.setText(self._summary)   # not the last variant's progress
        self._show_variants()

    def _model_changed(self, *_) -> None:
        model = self.model
        self._fill_layers(model)
        self._fill_classes(model)
        self._choice_changed()

    def _fill_layers(self, model: StrategyModel | None) -> None:
        from gcam_desktop.explain.names import LAYER_METHODS

        want = self.layer_box.currentData() or ""
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        default = model.default_layer if model else ""
        self.layer_box.addItem(f"Default ({default})" if default else "Default", "")
        for name in (model.layers if model else ()):
            self.layer_box.addItem(name, name)
        self.layer_box.setCurrentIndex(max(0, self.layer_box.findData(want)))
        self.layer_box.setEnabled(self.method in LAYER_METHODS)
        self.layer_box.blockSignals(False)

    def _fill_classes(self, model: StrategyModel | None) -> None:
        want = self.class_box.currentText()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("Every class", -1)
        for i, name in enumerate(model.class_names if model else ()):
            self.class_box.addItem(name, i)
        self.class_box.setCurrentIndex(max(0, self.class_box.findText(want)))
        self.class_box.blockSignals(False)

    def _choice_changed(self, *_) -> None:
        """Show the cached result of the new choice, if the session has one."""
        from gcam_desktop.explain.names import LAYER_METHODS

        self.layer_box.setEnabled(self.method in LAYER_METHODS)
        if not self.running:
            self._show_cached()

    def _show_cached(self) -> bool:
        model = self.model
        if model is None or not self._paths:
            return False
        job = self._job(model)
        results = self._lookup(job)
        if results is None:
            return False
        if job.key != self._shown_key:
            self._show(job.key, results)
        return True

    def _clear_view(self) -> None:
        self.view, self._shown_key = None, None
        self.scatter.clear()
        self.eigen.clear()
        self.clusters.clear()
        self.variants.hide()

    def _show(self, key: tuple, results: list) -> None:
        views = [v for v in (ResultView.of(r) for r in results) if v is not None]
        if not views:
            self._clear_view()
            self._shown_key = key
            name = self.class_box.currentText() if self.class_index is not None else "any class"
            problems = sum(len(r.failures) for r in results)
            self.status.setText(f"No image of {name} in the folder to cluster"
                                + (f" ({problems} problems, hover)" if problems else ""))
            self.status.setToolTip("\n".join(f"{w}: {y}" for r in results for w, y in r.failures[:30]))
            return
        view = max(views, key=lambda v: len(v.paths))
        self.view, self._shown_key = view, key
        self.scatter.set_points(view.layout, view.labels, view.paths)
        self.eigen.show_spectrum(view.eigenvalues, view.eigengap_k, view.k)
        self.clusters.set_clusters(view.rows)
        self._summary = view.summary(len(views))
        self.status.setText(self._summary)
        self.status.setToolTip(view.problems())
        self._show_variants()
        self.resultShown.emit(view)

    def _show_variants(self) -> None:
        """ARI of each variant's clusters against the baseline's for the shown class, from the cache."""
        model, view = self.model, self.view
        if model is None or view is None or not self.compare_box.isChecked():
            self.variants.hide()
            return
        by_arch = {model.arch: view.cls}
        for m in self._variants_of(model):
            cls = self._class_for(m, view.class_index)
            if cls == -1:
                continue
            found = self._lookup(self._job(m, cls))
            if found and found[0].classes:
                by_arch[m.arch] = found[0].classes[0]
        line = variant_comparisons(view.cls, by_arch)
        self.variants.setText(line)
        self.variants.setVisible(bool(line))

    # -- worker results (UI thread) ------------------------------------------------------------
    def _on_engine_failed(self, message: str) -> None:
        self._queue, self._running = [], None
        self.status.setText(message)
        self.cancel_button.setEnabled(False)
        self.progress.hide()
        self.worker.wait()   # the loop has returned; a later job starts it again

    def _on_started(self, job_id: int, total: int) -> None:
        if self._running is not None and job_id == self._running.id:
            self.status.setText(f"{self._running.model.label}: explaining {total:,} images\u2026")

    def _on_progress(self, job_id: int, done: int, total: int, stage: str) -> None:
        if self._running is not None and job_id == self._running.id:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            what = STAGES.get(stage, stage)
            self.status.setText(f"{self._running.model.label}: {what} ({done:,} of {total:,})\u2026")

    def _on_finished(self, job_id: int, result) -> None:
        job = self._running
        if job is None or job_id != job.id:
            return
        self._store(job, result)
        if job.key == self._main_key and self._shown_key != job.key:
            self._show(job.key, self._lookup(job) or [result])
        self._next_job()

    def _on_cancelled(self, job_id: int) -> None:
        if self._running is not None and job_id == self._running.id:
            self._running = None
            self.status.setText("Cancelled")
            self._next_job()

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._running is not None and job_id == self._running.id:
            job, self._running = self._running, None
            self.status.setText(f"{job.model.label}: {message}")
            self._next_job()
            if not self.running:
                self.status.setText(f"{job.model.label}: {message}")

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
