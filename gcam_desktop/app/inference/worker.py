"""The one inference worker: a thread that owns the models and is the only place they run.

A WorkerThread (app/common/worker_thread.py): the UI queues commands (load / unload a model,
change device, jobs such as batch export) and explanation requests, one per panel: a newer
request for a panel replaces the queued one, the running one finishes and its result still
lands in the cache. A long method (occlusion, RISE: many forwards) reports its progress
(explain/progress.py) and is stopped early once its panel has moved on (another image,
method or option: `want()` says what each panel wants now); its result is marked cancelled.
Every signal the UI hears from the models is declared here, once.

torch, the models and the explanation engine are imported here, in the worker thread, after
the window is up: `import torch` takes seconds.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Signal

from gcam_desktop.explain.progress import Cancelled, reporting
from gcam_desktop.imaging import ImageLoadError, load_image
from gcam_desktop.models.knowledge import class_index

from gcam_desktop.app.inference.messages import (OWN_PREDICTION, EngineInfo, ExplainRequest, ExplainResult,
                                                 ModelInfo)
from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.common.worker_thread import WorkerThread

TOP_K = 5
IMAGE_CACHE_BYTES = 256 * 1024 * 1024
MODEL_IMAGE_SIDE = 1024  # at least any model's input size (64 .. 512 here)
WORKER_NICE = 5


def _image_bytes(image) -> int:
    """A decoded RGB picture's bytes."""
    return image.width * image.height * 3


@dataclass
class _Loaded:
    model: Any
    meta: dict
    info: ModelInfo


class InferenceWorker(WorkerThread):
    engine_state = Signal(str, str)        # "loading" | "ready" | "failed", detail text
    engine_ready = Signal(object)          # EngineInfo
    model_loaded = Signal(object)          # ModelInfo
    model_failed = Signal(str, str, str)   # slot, path, message (the slot keeps its old model)
    model_unloaded = Signal(str)
    device_changed = Signal(str, str)      # device name, error ("" when it worked)
    result = Signal(object)                # ExplainResult
    started_request = Signal(object)       # ExplainRequest now running
    progress = Signal(object, int, int)    # ExplainRequest, forwards done, forwards in all (long methods)
    job_progress = Signal(str, int, int, str)   # job name, done, total, detail
    job_done = Signal(str, object)         # job name, return value
    job_failed = Signal(str, str)          # job name, message
    job_error = Signal(str, str, str)      # job name, what (file or model), why: the job goes on

    def __init__(self, device: str = "auto") -> None:
        super().__init__("gcam-inference", nice=WORKER_NICE)
        self._device_name = device
        self.device = None
        self.models: dict[str, _Loaded] = {}
        self._images: ByteBoundedCache[Any] = ByteBoundedCache(IMAGE_CACHE_BYTES, _image_bytes)
        # Counters the tests (and the status bar) read; written only by the worker thread.
        self.explain_calls = 0
        self.cancelled_calls = 0
        self.engine_seconds = 0.0
        # What each panel (request channel) wants now, set from the UI thread by the service:
        # a running long method whose key is no longer its panel's stops at its next report.
        self._wanted: dict[str, tuple | None] = {}
        self._wanted_lock = threading.Lock()

    # -- called from the UI thread ---------------------------------------------------------
    def submit_request(self, request: ExplainRequest) -> ExplainRequest | None:
        """Queue `request`; returns the queued request of the same channel (panel) it replaced, if any."""
        return self.submit(request.channel, self.explain_request, request)

    def cancel_slot(self, channel: str, keep_key: tuple | None = None) -> ExplainRequest | None:
        """Drop the channel's queued request (unless it asks for `keep_key`); returns it. A slot's
        name is its channel; its attention-off panel has its own (messages.off_channel)."""
        return self.withdraw(channel, keep=None if keep_key is None else (lambda queued: queued.key == keep_key))

    def want(self, channel: str, key: tuple | None) -> None:
        """The panel `channel` now shows the result for `key` (None: nothing). A running
        explanation for that panel with another key is stopped at its next progress report."""
        with self._wanted_lock:
            self._wanted[channel] = key

    def still_wanted(self, req: ExplainRequest) -> bool:
        """Whether `req`'s panel, or another panel that joined it (the same key), still wants its
        result; a panel never told about does."""
        if self._stopping:
            return False
        with self._wanted_lock:
            return self._wanted.get(req.channel, req.key) == req.key or req.key in self._wanted.values()

    # -- the worker thread -----------------------------------------------------------------
    def setup(self) -> bool:
        return self._load_engine()

    def teardown(self) -> None:
        self.models.clear()
        self._images.clear()

    def command_failed(self, fn: Callable, exc: Exception) -> None:
        traceback.print_exception(exc)
        self.engine_state.emit("ready", f"{fn.__name__} failed: {type(exc).__name__}: {exc}")

    def explain_request(self, req: ExplainRequest) -> None:
        self.started_request.emit(req)
        self.result.emit(self._explain(req))

    def _load_engine(self) -> bool:
        self.engine_state.emit("loading", "loading torch and the models\u2026")
        t0 = time.perf_counter()
        try:
            import torch  # noqa: F401  (seconds: this is why it happens here)

            from gcam_desktop import explain as engine
            from gcam_desktop import models
            from gcam_desktop.explain import attention as gates
            from gcam_desktop.explain import overlay
            from gcam_desktop.imaging import preprocess as prep

            self._torch, self._engine, self._models, self._prep = torch, engine, models, prep
            self._gates = gates
            try:
                self.device = models.pick_device(self._device_name)
            except (ValueError, RuntimeError) as exc:
                # e.g. --device cuda on a machine without CUDA: say so, run on what there is
                self.device = models.pick_device("auto")
                self.device_changed.emit(str(self.device), f"{exc}; using {self.device}")
            # Inside the try: reading METHODS imports every method's module (Zennit, and through
            # it torchvision), and a failure there must say "failed", not leave the app waiting.
            from gcam_desktop.explain.engine import method_options

            info = EngineInfo(methods=tuple(engine.METHODS), gradient_methods=tuple(engine.GRADIENT_METHODS),
                              colormaps=tuple(overlay.COLORMAPS), archs=tuple(models.ARCHS),
                              devices=tuple(models.available_devices()), device=str(self.device),
                              seconds=time.perf_counter() - t0, torch=torch.__version__,
                              method_options={m: method_options(m) for m in engine.METHODS})
        except Exception as exc:
            self.engine_state.emit("failed", f"could not load the engine: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return False
        self.engine_seconds = info.seconds
        self.engine_state.emit("ready", f"torch {torch.__version__} on {self.device}")
        self.engine_ready.emit(info)
        return True

    # -- commands: run in this thread, queued by InferenceService with call() -------------
    def load_model(self, slot: str, path: str, arch: str | None = None,
                   expect_classes: list[str] | None = None) -> None:
        models = self._models
        try:
            model, meta = models.load_checkpoint(
                path, map_location=self.device, expect_arch=arch,
                expect_num_classes=len(expect_classes) if expect_classes else None)
            if expect_classes and list(meta.get("class_names", [])) != list(expect_classes):
                raise models.CheckpointError(
                    path, f"its classes {_short(meta.get('class_names'))} differ from those of the "
                          f"models already loaded {_short(expect_classes)}; clear the other slots "
                          f"to compare models of another data set")
        except models.CheckpointError as exc:
            self.model_failed.emit(slot, str(path), str(exc))
            return
        except Exception as exc:  # e.g. out of memory on the device
            self.model_failed.emit(slot, str(path), f"{path}: {type(exc).__name__}: {exc}")
            return
        self._install(slot, model, meta, str(path))

    def build_model(self, slot: str, arch: str, class_names: list[str], input_size: int = 128) -> None:
        """An untrained model (self-test without checkpoints): the same code path, no file."""
        meta = self._models.make_meta(arch, class_names, input_size=input_size)
        model = self._models.build_model(arch, len(class_names))
        model = self._models.attach_meta(model, meta).eval().to(self.device)
        self._install(slot, model, meta, None, untrained=True)

    def _install(self, slot: str, model, meta: dict, path: str | None, untrained: bool = False) -> None:
        for p in model.parameters():
            p.requires_grad_(False)  # explanation never needs parameter gradients
        info = ModelInfo(slot=slot, token=uuid.uuid4().hex[:12], arch=meta["arch"], path=path, meta=meta,
                         layers=tuple(model.explainable_layers), default_layer=model.default_layer,
                         device=str(self.device), untrained=untrained)
        self.models[slot] = _Loaded(model, meta, info)
        self.model_loaded.emit(info)

    def unload_model(self, slot: str) -> None:
        if self.models.pop(slot, None) is not None:
            self.model_unloaded.emit(slot)

    def set_device(self, name: str) -> None:
        try:
            device = self._models.pick_device(name)
            for loaded in self.models.values():
                loaded.model.to(device)
        except Exception as exc:
            self.device_changed.emit(str(self.device), f"device {name!r}: {exc}")
            for loaded in self.models.values():
                loaded.model.to(self.device)
            return
        self.device = device
        for loaded in self.models.values():
            loaded.info.device = str(device)
        self.device_changed.emit(str(device), "")

    def run_job(self, name: str, fn: Callable, *args, **kwargs) -> None:
        """Run fn(worker, *args, **kwargs) here, with the models; e.g. batch export."""
        try:
            value = fn(self, *args, **kwargs)
        except Exception as exc:
            traceback.print_exc()
            self.job_failed.emit(name, f"{type(exc).__name__}: {exc}")
        else:
            self.job_done.emit(name, value)

    # explanations -----------------------------------------------------------------------
    def _image(self, path: str):
        """Decoded pictures are kept for the other panels' requests (same image, next model),
        up to IMAGE_CACHE_BYTES; the newest is always kept."""
        img = self._images.get(path)
        if img is None:
            # The models squash the whole picture to their input size: a big JPEG is decoded
            # no larger than MODEL_IMAGE_SIDE on either side needs (and never below it).
            img = load_image(path, min_size=(MODEL_IMAGE_SIDE, MODEL_IMAGE_SIDE))
            self._images.put(path, img)
        return img

    def _explain(self, req: ExplainRequest) -> ExplainResult:
        t0 = time.perf_counter()
        res = ExplainResult(request=req, method=req.method)
        loaded = self.models.get(req.slot)
        if loaded is None or loaded.info.token != req.model_token:
            res.error, res.stale = "the model of this panel changed; the request was dropped", True
            return res
        meta = loaded.meta
        res.class_names = list(meta.get("class_names", []))
        try:
            img = self._image(req.path)
        except ImageLoadError as exc:
            res.error, res.image_error = str(exc), True
            return res
        torch = self._torch
        model = loaded.model
        layer = req.layer if req.layer in model.explainable_layers else model.default_layer
        n = len(res.class_names) or int(meta.get("num_classes", 0))
        target = req.target
        if isinstance(target, str):  # "one class for all" picks by name: each model has its own list
            target = class_index(meta, target)
            if target is None:
                res.missing_class, target = req.target, OWN_PREDICTION  # predictions only, no map
        elif target != OWN_PREDICTION and not 0 <= target < n:
            res.error = f"class {req.target} does not exist in this model ({n} classes)"
            return res
        try:
            x = self._prep.preprocess_for(meta, img).unsqueeze(0).to(self.device)
            targets = None if target == OWN_PREDICTION else [target]
            self.explain_calls += 1
            # The gates are recorded during the explanation's own forward (bench/explain.py: no
            # measurable cost), so the Attention tab is filled from the same cached result.
            has_gates = self._gates.has_gates(model)
            with reporting(self._progress_callback(req)):
                exp = self._engine.explain(model, x, method=req.method, layer=layer, targets=targets, top_k=1,
                                           attention=req.attention, gates=has_gates, **dict(req.options))
            if has_gates:
                res.gates = {name: g[0].detach().float().cpu().numpy() for name, g in exp.gates.items()}
            res.map = exp.maps[0, 0].detach().float().cpu().numpy()
            raw = exp.raw[0, 0].detach().float().cpu()
            res.raw = raw.numpy()
            # The engine min-max normalises |raw| (upsampled) per map; its range lets the
            # panels share one scale so the models' magnitudes compare.
            magnitude = raw.abs() if exp.signed else raw
            res.raw_min, res.raw_max = float(magnitude.min()), float(magnitude.max())
            res.target_class = int(exp.classes[0, 0])
            probs = exp.probs[0].detach().float().cpu()
            top = torch.topk(probs, min(TOP_K, probs.numel()))
            res.top = [(int(i), float(p)) for p, i in zip(top.values, top.indices)]
            res.layer = exp.layer or ""
            res.true_class = self._prep.true_class_from_path(req.path, res.class_names)
            if res.missing_class is not None:
                res.map = res.raw = None  # no map for a class the model does not know
        except Cancelled:
            self.cancelled_calls += 1
            res.error, res.cancelled, res.map, res.raw = "cancelled: its panel moved on", True, None, None
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            res.error = f"{req.method} on {loaded.info.arch}: {msg}"
        res.seconds = time.perf_counter() - t0
        return res

    def _progress_callback(self, req: ExplainRequest):
        """Tells the panel how far a long method is (once per whole percent) and stops it
        when the panel no longer wants it."""
        shown = [-1]

        def callback(done: int, total: int) -> bool:
            percent = int(100 * done / total) if total else 100
            if percent != shown[0]:
                shown[0] = percent
                self.progress.emit(req, done, total)
            return self.still_wanted(req)
        return callback


def _short(names, n: int = 4) -> str:
    names = list(names or [])
    return "[" + ", ".join(names[:n]) + (", \u2026" if len(names) > n else "") + f"] ({len(names)})"
