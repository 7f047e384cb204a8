"""The Quality tab's worker: scores on its own thread, with its own copies of the models.

A WorkerThread (app/common/worker_thread.py): the current image is a request (a newer image
replaces the one still waiting), starting and cancelling a folder are commands, and the folder
is scored one image at a time as background steps, so the current image never waits for a
whole folder and Cancel lands within one image. A sanity check (the Sanity section) is a
background job too, one (image, model, method) unit per step (sanity_run.py), taking turns
with a folder being scored; its Cancel lands within one explanation. Copies of the models, because the
explanation engine hooks the model it explains: sharing a model with the viewer's inference
worker would let either thread's hooks fire in the other's forward pass (docs/adr/0008).
torch and the evaluation code are imported in this thread, when the tab first has work.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import Signal

from gcam_desktop.app.quality.sanity_run import SanityJob, SanityRun
from gcam_desktop.app.quality.sources import QualityModel, ScoreJob, source_key
from gcam_desktop.app.common.worker_thread import WorkerThread


class QualityWorker(WorkerThread):
    ready = Signal(list)                       # methods the engine offers
    models_meta = Signal(dict)                 # name -> checkpoint metadata of the models in use
    failed = Signal(str)                       # the engine could not load
    image_done = Signal(int, object)           # job id, ImageScore
    image_failed = Signal(int, str)            # job id, message
    folder_started = Signal(int, int, list)    # job id, total, model names
    folder_item = Signal(int, object, int, int)  # job id, ImageScore | SkippedImage, done, total
    folder_finished = Signal(int, bool)        # job id, cancelled
    folder_failed = Signal(int, str)           # job id, message
    sanity_started = Signal(int, int, list)    # job id, units (image x model x method), model names
    sanity_progress = Signal(int, float)       # job id, units done (fractional within the running one)
    sanity_item = Signal(int, object, int, int)  # job id, SanityItem, units done, total
    sanity_finished = Signal(int, bool)        # job id, cancelled
    sanity_failed = Signal(int, str)           # job id, message

    def __init__(self, device: str = "auto") -> None:
        super().__init__("gcam-quality")
        self.device_name = device
        self._copies: dict[tuple, Any] = {}
        self._folder: tuple[ScoreJob, list, Callable] | None = None   # job, entries, mask lookup
        self._done = 0                                                # folder images scored
        self._sanity: SanityRun | None = None
        self._sanity_turn = False     # a folder and a sanity check take turns
        self.images_scored = 0  # read by tests

    # -- any thread --------------------------------------------------------------------------
    def request_image(self, job: ScoreJob) -> None:
        self.submit("image", self.score_image, job)

    def start_folder(self, job: ScoreJob) -> None:
        self.call(self.open_folder, job)

    def cancel_folder(self) -> None:
        self.call(self.close_folder, True)

    def start_sanity(self, job: SanityJob) -> None:
        self.call(self.open_sanity, job)

    def cancel_sanity(self, job: SanityJob) -> None:
        job.stop.set()  # now: the running unit polls it between explanations
        self.call(self.close_sanity, job.id, True)

    # -- the worker thread -------------------------------------------------------------------
    def setup(self) -> bool:
        try:
            import torch  # noqa: F401  (seconds: here, not in the UI thread)

            from gcam_desktop import evaluation, explain, models
            from gcam_desktop.explain.baselines import BASELINES

            self._evaluation, self._models, self._baselines = evaluation, models, BASELINES
            self.device = models.pick_device(self.device_name)
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(f"could not load the engine: {type(exc).__name__}: {exc}")
            return False
        self.ready.emit(list(explain.METHODS))
        return True

    def teardown(self) -> None:
        self._folder = None
        self._sanity = None
        self._copies.clear()

    def open_folder(self, job: ScoreJob) -> None:
        """Command: the folder job replaces any running one (which ends as cancelled)."""
        self.close_folder(True)
        try:
            entries = self._entries(job.sources)
        except Exception as exc:
            self.folder_failed.emit(job.id, str(exc))
            return
        if not job.paths:
            self.folder_finished.emit(job.id, False)
            return
        self.folder_started.emit(job.id, len(job.paths), [e.name for e in entries])
        self._folder, self._done = (job, entries, self._mask_lookup(job.root, job.masks)), 0

    def close_folder(self, cancelled: bool) -> None:
        if self._folder is not None:
            self.folder_finished.emit(self._folder[0].id, cancelled)
            self._folder = None

    def open_sanity(self, job: SanityJob) -> None:
        """Command: the sanity job replaces any running one (which ends as cancelled)."""
        if self._sanity is not None:
            self.close_sanity(self._sanity.job.id, True)
        if job.stop.is_set():
            self.sanity_finished.emit(job.id, True)
            return
        try:
            entries = self._entries(job.sources)
        except Exception as exc:
            self.sanity_failed.emit(job.id, str(exc))
            return
        self._sanity = SanityRun(job, entries, self.device)
        self.sanity_started.emit(job.id, self._sanity.total, [e.name for e in entries])
        if self._sanity.finished:
            self.close_sanity(job.id, False)

    def close_sanity(self, job_id: int, cancelled: bool) -> None:
        if self._sanity is not None and self._sanity.job.id == job_id:
            self._sanity = None  # before the signal: a receiver may ask at once
            self.sanity_finished.emit(job_id, cancelled)

    def has_background_work(self) -> bool:
        return self._folder is not None or self._sanity is not None

    def background_step(self) -> None:
        """The folder's next image or the sanity check's next unit, taking turns."""
        self._sanity_turn = not self._sanity_turn
        if self._sanity is not None and (self._folder is None or self._sanity_turn):
            self._sanity_step()
        else:
            self._folder_step()

    def _sanity_step(self) -> None:
        run = self._sanity
        job_id, stop = run.job.id, run.job.stop
        done = run.done
        try:
            item = run.step(lambda: stop.is_set() or self.cancelled(),
                            lambda f: self.sanity_progress.emit(job_id, done + f))
        except InterruptedError:
            self.close_sanity(job_id, True)
            return
        self.sanity_item.emit(job_id, item, run.done, run.total)
        if run.finished:
            self.close_sanity(job_id, False)

    def _folder_step(self) -> None:
        job, entries, masks_for = self._folder
        item = self._score_one(entries, job.paths[self._done], job.method, job.steps, masks_for, keep_curves=False)
        self._done += 1
        self.folder_item.emit(job.id, item, self._done, len(job.paths))
        if self._done == len(job.paths):
            self.close_folder(False)

    def score_image(self, job: ScoreJob) -> None:
        """Request: the current image, with its deletion / insertion curves."""
        try:
            entries = self._entries(job.sources)
        except Exception as exc:
            self.image_failed.emit(job.id, str(exc))
            return
        item = self._score_one(entries, job.paths[0], job.method, job.steps, self._mask_lookup(job.root, job.masks),
                               keep_curves=True)
        if isinstance(item, self._evaluation.SkippedImage):
            self.image_failed.emit(job.id, f"{item.path}: {item.reason}")
        else:
            self.image_done.emit(job.id, item)

    def _mask_lookup(self, root: str | None, masks: str | None) -> Callable:
        ev = self._evaluation
        root_p, masks_p = (Path(root) if root else None), (Path(masks) if masks else None)
        return lambda p: ev.mask_path_for(Path(p), root_p or Path(p).parent.parent, masks_p)

    def _score_one(self, entries, path: str, method: str, steps: int, masks_for, keep_curves: bool):
        ev = self._evaluation
        try:
            # The maps that know nothing of the model, scored beside the method (issue 20); no
            # ROAD (road_percentages left empty): a sparse solve per image is too slow here.
            items = list(ev.score_images(entries, [path], [method], masks_for=masks_for, steps=steps,
                                         batch_size=1, keep_curves=keep_curves, baselines=self._baselines))
        except Exception as exc:  # one bad image or method failure must not end the job
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ev.SkippedImage(str(path), f"{method}: {msg}")
        self.images_scored += 1
        return items[0] if items else ev.SkippedImage(str(path), "nothing scored")

    def _entries(self, sources: Sequence[QualityModel]) -> list:
        """Private copies of the models, kept while the sources stay the same."""
        if not sources:
            raise ValueError("no models loaded: load a checkpoint into a slot first")
        kept, entries = {}, []
        for s in sources:
            key = source_key(s)
            entry = self._copies.get(key) or self._copy(s)
            kept[key] = entry
            entries.append(entry)
        self._copies = kept
        self.models_meta.emit({e.name: dict(e.meta) for e in entries})
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
            # the layer the app explains and the input normalisation, as load_checkpoint sets them
            models.attach_meta(model, meta).eval().to(self.device)
        else:
            raise ValueError(f"model {s.name!r} has neither a checkpoint file nor a model")
        for p in model.parameters():
            p.requires_grad_(False)
        return self._evaluation.ModelEntry(s.name, model, meta, s.path)
