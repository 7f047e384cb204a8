"""The Strategies tab's worker: explains a folder and clusters the maps on its own thread, with
its own copy of the model (the engine hooks the model it explains, docs/adr/0008), so the
Compare tab's panels never wait for it. A job is a command (`run`); it reports progress per
batch and polls Cancel between batches (gcam_desktop.strategies.run_strategies does the work).
torch and the analysis are imported in this thread, when the tab first runs a job."""

from __future__ import annotations

import traceback
from typing import Any

from PySide6.QtCore import Signal

from gcam_desktop.app.common.worker_thread import WorkerThread
from gcam_desktop.app.strategies.sources import StrategiesJob, StrategyModel


class StrategiesWorker(WorkerThread):
    failed_engine = Signal(str)              # torch or the analysis could not load
    started_job = Signal(int, int)           # job id, images
    progress = Signal(int, int, int, str)    # job id, done, total, stage ("duplicates", "explaining", "clustering")
    finished_job = Signal(int, object)       # job id, StrategiesResult
    cancelled_job = Signal(int)              # job id
    failed_job = Signal(int, str)            # job id, message

    def __init__(self, device: str = "auto") -> None:
        super().__init__("gcam-strategies", nice=5, autostart=True)
        self.device_name = device
        self._copies: dict[tuple, Any] = {}   # weights key -> model, the last few used
        self._hash = None                      # similarity.HashModel, made by the first job
        self.jobs_run = 0                      # tests read it

    # -- any thread --------------------------------------------------------------------------
    def run_job(self, job: StrategiesJob) -> None:
        self.call(self._run, job)

    def cancel_job(self, job: StrategiesJob) -> None:
        job.stop.set()   # now: the running job polls it between images
        self.cancel()

    # -- the worker thread -------------------------------------------------------------------
    def setup(self) -> bool:
        try:
            import scipy.spatial  # noqa: F401  (the scatter's k-d tree: a second or more to import, here)
            import torch  # noqa: F401  (seconds: here, not in the UI thread)

            from gcam_desktop import models, strategies

            self._models, self._strategies = models, strategies
            self.device = models.pick_device(self.device_name)
        except Exception as exc:
            traceback.print_exc()
            self.failed_engine.emit(f"could not load the engine: {type(exc).__name__}: {exc}")
            return False
        return True

    def teardown(self) -> None:
        self._copies.clear()
        self._hash = None

    def _run(self, job: StrategiesJob) -> None:
        strategies = self._strategies
        stopped = lambda: job.stop.is_set() or self.cancelled()  # noqa: E731
        if stopped():
            self.cancelled_job.emit(job.id)
            return
        try:
            model = self._model(job.model)
            if self._hash is None and job.duplicates:  # the near-duplicate collapse's hash model, made once
                from gcam_desktop.similarity import pick_hash_model

                self._hash = pick_hash_model(None, self.device)
        except Exception as exc:
            self.failed_job.emit(job.id, f"{job.model.label}: {exc}")
            return
        self.started_job.emit(job.id, len(job.paths))
        try:
            result = strategies.run_strategies(
                list(job.paths), (job.model.label, model, dict(job.model.meta)), job.method, job.layer or None,
                job.class_index, k=job.k, duplicates=job.duplicates, hash_model=self._hash, device=self.device,
                progress=lambda done, total, stage: self.progress.emit(job.id, int(done), int(total), str(stage)),
                cancelled=stopped)
        except strategies.Cancelled:
            self.cancelled_job.emit(job.id)
            return
        except Exception as exc:
            traceback.print_exc()
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.failed_job.emit(job.id, msg)
            return
        if stopped():
            self.cancelled_job.emit(job.id)
            return
        self.jobs_run += 1
        self.finished_job.emit(job.id, result)

    def _model(self, source: StrategyModel):
        """The worker's own copy of the slot's model, read from its checkpoint (kept while used)."""
        key = source.weights_key()
        model = self._copies.get(key)
        if model is None:
            if not source.path:
                raise ValueError("this slot's model has no checkpoint file to read a copy from; "
                                 "load a trained checkpoint or ImageNet weights into it")
            model, _meta = self._models.load_checkpoint(source.path, map_location=self.device)
            for p in model.parameters():
                p.requires_grad_(False)
            if len(self._copies) >= 3:   # a baseline and its two attention variants
                self._copies.pop(next(iter(self._copies)))
            self._copies[key] = model
        return model
