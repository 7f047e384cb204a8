"""The Quality tab's Sanity section: can these maps be believed? (Adebayo et al. 2018; the rules
are docs/adr/0018.)

Check this image: the parameter-randomisation cascade for the image the viewer shows, with
every loaded model and the chosen methods: curves of the similarity to the original map per
model, the maps at each step as a strip for one method, and the summary table (correlation
after layer4, pass / fail badge, class sensitivity). Check first N: the table over the first N
images of the folder. The work runs on the Quality tab's worker (sanity_run.py), on its own
copies of the models, with progress and Cancel; the Compare tab's worker is another thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QMenu, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from gcam_desktop.app.quality.sanity_curves import ORIGINAL, SanityCurves
from gcam_desktop.app.quality.sanity_run import (DEFAULT_METHODS, MEASURE_LABELS, SanityItem, SanityJob, summarize,
                                                 verdict_records)
from gcam_desktop.app.quality.sanity_strip import MapStrip, thumbnail
from gcam_desktop.app.quality.sanity_table import fill_table, make_table
from gcam_desktop.app.quality.sources import QualityModel
from gcam_desktop.app.widgets.elided_label import ElidedLabel


class SanityView(QWidget):
    # The running check's verdicts so far (list of app/common/sanity_verdicts.SanityVerdict),
    # after each unit: the Compare tab's method list shows them (issue 20).
    verdicts_changed = Signal(list)

    def __init__(self, worker, sources: Callable[[], Sequence[QualityModel]], image_path: Callable[[], str | None],
                 folder_paths: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        """`sources()` gives the models to check (and starts the worker), empty when there are none."""
        super().__init__(parent)
        self.worker = worker
        self._sources, self._image_path, self._folder_paths = sources, image_path, folder_paths
        self._next_id = 0
        self.job: SanityJob | None = None       # the running job
        self.image_path: str | None = None      # the image of the curves and the strip
        self.image_items: dict[tuple[str, str], SanityItem] = {}
        self.items: list[SanityItem] = []       # the table's
        self.models: list[str] = []
        self.methods: list[str] = []
        for sig, slot in ((worker.sanity_started, self._on_started), (worker.sanity_progress, self._on_progress),
                          (worker.sanity_item, self._on_item), (worker.sanity_finished, self._on_finished),
                          (worker.sanity_failed, self._on_failed)):
            sig.connect(slot)
        self._build_ui()

    # -- UI ------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.status = ElidedLabel()
        self.status.setObjectName("sanityStatus")
        self.curves = SanityCurves()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(self._controls())
        lay.addWidget(self.status)
        lay.addWidget(self.curves, 5)
        lay.addLayout(self._strip_and_table(), 4)
        self._methods_changed()

    def _controls(self) -> QHBoxLayout:
        """Methods, similarity measure, Check this image / Check first N images, Cancel, progress."""
        from gcam_desktop.explain.names import METHODS, method_label

        self.methods_button = QPushButton()  # a push button sizes itself for its text and menu arrow
        menu = QMenu(self.methods_button)
        self.method_actions: dict[str, QAction] = {}
        for m in METHODS:
            act = menu.addAction(method_label(m))
            act.setCheckable(True)
            act.setChecked(m in DEFAULT_METHODS)
            act.toggled.connect(self._methods_changed)
            self.method_actions[m] = act
        self.methods_button.setMenu(menu)
        self.measure_box = QComboBox()
        for key, label in MEASURE_LABELS.items():
            self.measure_box.addItem(label, key)
        self.measure_box.setToolTip("Similarity of each map to the original one (at the input's resolution)")
        self.measure_box.currentIndexChanged.connect(self._redraw_image)
        self.image_button = QPushButton("Check this image")
        self.image_button.setToolTip("Randomise each loaded model from the top down and explain the image the "
                                     "viewer shows after each step (runs in the background)")
        self.image_button.clicked.connect(self.check_image)
        self.count_box = QSpinBox()
        self.count_box.setRange(1, 500)
        self.count_box.setValue(10)
        self.count_box.setToolTip("How many images of the folder list the summary table covers")
        self.folder_button = QPushButton("Check first")
        self.folder_button.setToolTip("The summary table over the first N images of the folder (numbers only)")
        self.folder_button.clicked.connect(self.check_folder)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setMaximumWidth(160)
        top = QHBoxLayout()
        for w in (self.methods_button, QLabel("Similarity"), self.measure_box, self.image_button,
                  self.folder_button, self.count_box, QLabel("images"), self.cancel_button):
            top.addWidget(w)
        top.addWidget(self.progress, 1)
        return top

    def _strip_and_table(self) -> QHBoxLayout:
        self.strip_method = QComboBox()
        self.strip_method.setToolTip("The method whose maps the strip shows")
        self.strip_method.currentIndexChanged.connect(self._redraw_strip)
        self.on_image = QCheckBox("on the image")
        self.on_image.setChecked(True)
        self.on_image.setToolTip("Maps over the picture the model saw (half opacity), or the plain colour maps")
        self.on_image.toggled.connect(self._redraw_strip)
        self.strip = MapStrip()
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Maps of"))
        srow.addWidget(self.strip_method, 1)
        srow.addWidget(self.on_image)
        left = QVBoxLayout()
        left.addLayout(srow)
        left.addWidget(self.strip, 1)
        self.table_label = ElidedLabel("Summary")
        self.table = make_table()
        right = QVBoxLayout()
        right.addWidget(self.table_label)
        right.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        bottom.addLayout(left, 1)
        bottom.addLayout(right, 1)
        return bottom

    def _methods_changed(self, *_) -> None:
        from gcam_desktop.explain.names import method_label

        chosen = self.chosen_methods()
        self.methods_button.setText(f"Methods ({len(chosen)})")
        self.methods_button.setToolTip("Methods to check: " + (", ".join(method_label(m) for m in chosen) or "none"))
        self._update_buttons()

    def _update_buttons(self) -> None:
        running, chosen = self.job is not None, bool(self.chosen_methods())
        self.image_button.setEnabled(chosen and not running)
        self.folder_button.setEnabled(chosen and not running and bool(self._folder_paths()))
        self.cancel_button.setEnabled(running)

    # -- public API ----------------------------------------------------------------------------
    def chosen_methods(self) -> list[str]:
        return [m for m, act in self.method_actions.items() if act.isChecked()]

    def set_methods(self, methods: Sequence[str]) -> None:
        for m, act in self.method_actions.items():
            act.setChecked(m in methods)

    @property
    def measure(self) -> str:
        return self.measure_box.currentData()

    @property
    def running(self) -> bool:
        return self.job is not None

    def check_image(self) -> None:
        path = self._image_path()
        if not path:
            self.status.setText("No image shown: pick one in the list first")
            return
        self._start((path,), keep_maps=True)

    def check_folder(self) -> None:
        paths = self._folder_paths()[: self.count_box.value()]
        if not paths:
            self.status.setText("No folder open")
            return
        self._start(tuple(paths), keep_maps=False)

    def cancel(self) -> None:
        if self.job is not None:
            self.worker.cancel_sanity(self.job)
            self.status.setText("Cancelling\u2026")
            self.cancel_button.setEnabled(False)

    def image_changed(self, path: str | None) -> None:
        """The viewer shows another image: the curves stay, saying which image they are for."""
        if self.image_path and path != self.image_path and self.job is None:
            self.status.setText(f"Curves and maps of {Path(self.image_path).name}; "
                                f"Check this image for the one shown now")
        self._update_buttons()

    # -- jobs ----------------------------------------------------------------------------------
    def _start(self, paths: tuple[str, ...], keep_maps: bool) -> None:
        if self.job is not None:
            return
        sources = tuple(self._sources())
        if not sources:
            self.status.setText("No models loaded")
            return
        self._next_id += 1
        self.job = SanityJob(self._next_id, paths, tuple(self.chosen_methods()), sources, keep_maps)
        self.items = []
        self.methods = list(self.job.methods)
        if keep_maps:
            self.image_path, self.image_items = paths[0], {}
            self.curves.clear()
            self.strip.clear()
            self.strip_method.blockSignals(True)
            self.strip_method.clear()
            from gcam_desktop.explain.names import method_label

            for m in self.methods:
                self.strip_method.addItem(method_label(m), m)
            self.strip_method.blockSignals(False)
        self.table.setRowCount(0)
        what = Path(paths[0]).name if keep_maps else f"the first {len(paths)} images of the folder"
        self.table_label.setText(f"Summary of {what}")
        self.status.setText(f"Checking {what}\u2026")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self._update_buttons()
        self.worker.start_sanity(self.job)

    def _ours(self, job_id: int) -> bool:
        return self.job is not None and job_id == self.job.id

    def _on_started(self, job_id: int, total: int, models: list) -> None:
        if self._ours(job_id):
            self.models = list(models)
            self.progress.setRange(0, max(1, total * 100))

    def _on_progress(self, job_id: int, done: float) -> None:
        if self._ours(job_id):
            self.progress.setValue(int(done * 100))

    def _on_item(self, job_id: int, item: SanityItem, done: int, total: int) -> None:
        if not self._ours(job_id):
            return
        self.items.append(item)
        self.progress.setValue(done * 100)
        if item.error:
            self.status.setText(item.error)
        if self.job.keep_maps and item.sanity is not None:
            self.image_items[(item.model, item.method)] = item
            self._redraw_image()
        fill_table(self.table, summarize(self.items))
        self.verdicts_changed.emit(verdict_records(self.items, self.job))

    def _on_finished(self, job_id: int, cancelled: bool) -> None:
        if not self._ours(job_id):
            return
        job, self.job = self.job, None
        done = len(self.items)
        errors = sum(1 for it in self.items if it.error)
        what = Path(job.paths[0]).name if job.keep_maps else f"{len(job.paths)} images"
        self.status.setText(f"{'Cancelled after' if cancelled else 'Checked'} {done} model \u00d7 method runs "
                            f"of {what}" + (f" ({errors} failed: hover the table)" if errors else ""))
        self._update_buttons()

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._ours(job_id):
            self.fail(message)

    def fail(self, message: str) -> None:
        """The job cannot run (the engine did not load): nothing is left looking alive."""
        self.job = None
        self.status.setText(message)
        self._update_buttons()

    # -- drawing -------------------------------------------------------------------------------
    def _redraw_image(self, *_) -> None:
        results = {k: it.sanity for k, it in self.image_items.items()}
        models = [m for m in self.models if any(k[0] == m for k in results)]
        if models:
            self.curves.show_results(results, models, self.methods, self.measure)
        self._redraw_strip()

    def _redraw_strip(self, *_) -> None:
        method = self.strip_method.currentData()
        rows = []
        for model in self.models:
            item = self.image_items.get((model, method))
            if item is None:
                continue
            s = item.sanity
            maps = [s.original] + [step.map for step in s.cascade]
            rows.append((model, [ORIGINAL] + [step.stage for step in s.cascade],
                         [thumbnail(m, item.image, self.on_image.isChecked()) for m in maps]))
        tip = ("Each row: the model's map for the predicted class on the original model, then after each "
               "randomisation step (everything up to that stage re-initialised)")
        if rows:
            self.strip.set_rows(rows, tip)
        else:
            self.strip.clear()
