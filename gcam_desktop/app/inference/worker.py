"""The one inference worker: a thread that owns the models and is the only place they run.

napari/superqt style: the worker is a QObject whose signals live on it, moved to its own
QThread; the UI talks to it through thread-safe methods and hears back through queued
signals. Its loop serves, in order: commands (load / unload a model, change device, jobs such
as batch export), then explanation requests. Requests wait in a dict keyed by panel, so a
newer request for a panel replaces the queued one: flicking through 100 images leaves at most
one request per panel waiting, never a backlog. The request already running finishes (torch
cannot be interrupted mid-operation) and its result still lands in the cache.

torch, the models and the explanation engine are imported here, in the worker thread, after
the window is up: `import torch` takes seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from gcam_desktop.imaging import ImageLoadError, load_image

from gcam_desktop.app.inference.messages import OWN_PREDICTION, ExplainRequest, ExplainResult, ModelInfo

TOP_K = 5
IMAGE_CACHE_BYTES = 256 * 1024 * 1024
WORKER_NICE = 5


@dataclass
class _Loaded:
    model: Any
    meta: dict
    info: ModelInfo


@dataclass
class _Command:
    kind: str
    args: tuple
    kwargs: dict


class InferenceWorker(QObject):
    engine_state = Signal(str, str)        # "loading" | "ready" | "failed", detail text
    engine_ready = Signal(dict)            # methods, colormaps, archs, devices, device, seconds
    model_loaded = Signal(object)          # ModelInfo
    model_failed = Signal(str, str, str)   # slot, path, message (the slot keeps its old model)
    model_unloaded = Signal(str)
    device_changed = Signal(str, str)      # device name, error ("" when it worked)
    result = Signal(object)                # ExplainResult
    started_request = Signal(object)       # ExplainRequest now running
    job_progress = Signal(str, int, int, str)   # job name, done, total, detail
    job_done = Signal(str, object)         # job name, return value
    job_failed = Signal(str, str)          # job name, message
    job_error = Signal(str, str, str)      # job name, what (file or model), why: the job goes on

    def __init__(self, device: str = "auto") -> None:
        super().__init__()
        self._cv = threading.Condition()
        self._commands: deque[_Command] = deque()
        self._pending: OrderedDict[str, ExplainRequest] = OrderedDict()
        self._stop = False
        self._cancel_job = threading.Event()
        self._device_name = device
        self.device = None
        self.models: dict[str, _Loaded] = {}
        self._images: OrderedDict[str, Any] = OrderedDict()
        # Counters the tests (and the status bar) read; written only by the worker thread.
        self.explain_calls = 0
        self.superseded = 0
        self.engine_seconds = 0.0

    # -- called from the UI thread ---------------------------------------------------------
    def submit(self, request: ExplainRequest) -> ExplainRequest | None:
        """Queue `request`; returns the queued request of the same panel it replaced, if any."""
        with self._cv:
            replaced = self._pending.pop(request.panel, None)
            if replaced is not None:
                self.superseded += 1
            self._pending[request.panel] = request
            self._cv.notify()
            return replaced

    def cancel_panel(self, panel: str, keep_key: tuple | None = None) -> ExplainRequest | None:
        """Drop the panel's queued request (unless it asks for `keep_key`); returns it."""
        with self._cv:
            queued = self._pending.get(panel)
            if queued is None or (keep_key is not None and queued.key == keep_key):
                return None
            return self._pending.pop(panel)

    def command(self, kind: str, *args, **kwargs) -> None:
        with self._cv:
            self._commands.append(_Command(kind, args, kwargs))
            self._cv.notify()

    def queued(self) -> int:
        with self._cv:
            return len(self._pending) + len(self._commands)

    def cancel_job(self) -> None:
        self._cancel_job.set()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._pending.clear()
            self._commands.clear()
            self._cancel_job.set()
            self._cv.notify_all()

    # -- the worker thread -----------------------------------------------------------------
    def run(self) -> None:
        if not self._load_engine():
            return
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._commands or self._pending)
                if self._stop:
                    break
                if self._commands:
                    cmd, req = self._commands.popleft(), None
                else:
                    _, req = self._pending.popitem(last=False)
                    cmd = None
            if cmd is not None:
                self._run_command(cmd)
            else:
                self.started_request.emit(req)
                self.result.emit(self._explain(req))
        self.models.clear()
        self._images.clear()

    def _load_engine(self) -> bool:
        self.engine_state.emit("loading", "loading torch and the models\u2026")
        t0 = time.perf_counter()
        try:
            import torch  # noqa: F401  (seconds: this is why it happens here)

            from gcam_desktop import explain as engine
            from gcam_desktop import models
            from gcam_desktop.explain import overlay
            from gcam_desktop.imaging import preprocess as prep

            self._torch, self._engine, self._models, self._prep = torch, engine, models, prep
            try:
                self.device = models.pick_device(self._device_name)
            except (ValueError, RuntimeError) as exc:
                # e.g. --device cuda on a machine without CUDA: say so, run on what there is
                self.device = models.pick_device("auto")
                self.device_changed.emit(str(self.device), f"{exc}; using {self.device}")
                self._device_name = "auto"
        except Exception as exc:
            self.engine_state.emit("failed", f"could not load the engine: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return False
        self.engine_seconds = time.perf_counter() - t0
        info = {
            "methods": list(engine.METHODS),
            "cam_methods": list(getattr(engine, "CAM_METHODS", ())),
            "gradient_methods": list(getattr(engine, "GRADIENT_METHODS", ())),
            "colormaps": list(overlay.COLORMAPS),
            "archs": list(models.ARCHS),
            "devices": list(models.available_devices()),
            "device": str(self.device),
            "seconds": self.engine_seconds,
            "torch": torch.__version__,
        }
        self.engine_state.emit("ready", f"torch {torch.__version__} on {self.device}")
        self.engine_ready.emit(info)
        return True

    def _run_command(self, cmd: _Command) -> None:
        handler = getattr(self, f"_cmd_{cmd.kind}")
        try:
            handler(*cmd.args, **cmd.kwargs)
        except Exception as exc:  # a bug in one command must not end the worker
            traceback.print_exc()
            self.engine_state.emit("ready", f"{cmd.kind} failed: {type(exc).__name__}: {exc}")

    # commands ---------------------------------------------------------------------------
    def _cmd_load(self, slot: str, path: str, arch: str | None = None,
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

    def _cmd_build(self, slot: str, arch: str, class_names: list[str], input_size: int = 128) -> None:
        """An untrained model (self-test without checkpoints): the same code path, no file."""
        meta = self._models.make_meta(arch, class_names, input_size=input_size)
        model = self._models.build_model(arch, len(class_names)).eval().to(self.device)
        self._install(slot, model, meta, None, untrained=True)

    def _install(self, slot: str, model, meta: dict, path: str | None, untrained: bool = False) -> None:
        for p in model.parameters():
            p.requires_grad_(False)  # explanation never needs parameter gradients
        info = ModelInfo(slot=slot, token=uuid.uuid4().hex[:12], arch=meta["arch"], path=path, meta=meta,
                         layers=tuple(model.explainable_layers), default_layer=model.default_layer,
                         device=str(self.device), untrained=untrained)
        self.models[slot] = _Loaded(model, meta, info)
        self.model_loaded.emit(info)

    def _cmd_unload(self, slot: str) -> None:
        if self.models.pop(slot, None) is not None:
            self.model_unloaded.emit(slot)

    def _cmd_device(self, name: str) -> None:
        try:
            device = self._models.pick_device(name)
            for loaded in self.models.values():
                loaded.model.to(device)
        except Exception as exc:
            self.device_changed.emit(str(self.device), f"device {name!r}: {exc}")
            for loaded in self.models.values():
                loaded.model.to(self.device)
            return
        self.device, self._device_name = device, name
        for loaded in self.models.values():
            loaded.info.device = str(device)
        self.device_changed.emit(str(device), "")

    def _cmd_job(self, name: str, fn: Callable, *args, **kwargs) -> None:
        """Run fn(worker, *args, **kwargs) here, with the models; e.g. batch export."""
        self._cancel_job.clear()
        try:
            value = fn(self, *args, **kwargs)
        except Exception as exc:
            traceback.print_exc()
            self.job_failed.emit(name, f"{type(exc).__name__}: {exc}")
        else:
            self.job_done.emit(name, value)

    def job_cancelled(self) -> bool:
        return self._cancel_job.is_set() or self._stop

    def serve_pending(self) -> bool:
        """Answer the queued explanation requests now (a long job calls this between its
        steps, so the panels stay live during a batch export); True when the worker stops."""
        while True:
            with self._cv:
                if self._stop:
                    return True
                if not self._pending:
                    return False
                _, req = self._pending.popitem(last=False)
            self.started_request.emit(req)
            self.result.emit(self._explain(req))

    # explanations -----------------------------------------------------------------------
    def _image(self, path: str):
        """Decoded pictures are kept for the other panels' requests (same image, next model),
        up to IMAGE_CACHE_BYTES; the newest is always kept."""
        img = self._images.get(path)
        if img is None:
            img = load_image(path)
            self._images[path] = img
            size = lambda im: im.width * im.height * 3  # noqa: E731
            while len(self._images) > 1 and sum(size(i) for i in self._images.values()) > IMAGE_CACHE_BYTES:
                self._images.popitem(last=False)
        else:
            self._images.move_to_end(path)
        return img

    def _explain(self, req: ExplainRequest) -> ExplainResult:
        t0 = time.perf_counter()
        res = ExplainResult(request=req, method=req.method)
        loaded = self.models.get(req.panel)
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
        if req.target != OWN_PREDICTION and not 0 <= req.target < n:
            res.error = f"class {req.target} does not exist in this model ({n} classes)"
            return res
        try:
            x = self._prep.preprocess_for(meta, img).unsqueeze(0).to(self.device)
            targets = None if req.target == OWN_PREDICTION else [req.target]
            self.explain_calls += 1
            exp = self._engine.explain(model, x, method=req.method, layer=layer, targets=targets, top_k=1)
            res.map = exp.maps[0, 0].detach().float().cpu().numpy()
            raw = exp.raw[0, 0].detach().float().cpu()
            res.raw = raw.numpy()
            # The engine min-max normalises |raw| (upsampled) per map; its range lets the
            # panels share one scale so the models' magnitudes compare.
            magnitude = raw.abs() if getattr(exp, "signed", False) else raw
            res.raw_min, res.raw_max = float(magnitude.min()), float(magnitude.max())
            res.target_class = int(exp.classes[0, 0])
            probs = exp.probs[0].detach().float().cpu()
            top = torch.topk(probs, min(TOP_K, probs.numel()))
            res.top = [(int(i), float(p)) for p, i in zip(top.values, top.indices)]
            res.layer = getattr(exp, "layer", layer) or ""
            res.true_class = self._prep.true_class_from_path(req.path, res.class_names)
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            res.error = f"{req.method} on {loaded.info.arch}: {msg}"
        res.seconds = time.perf_counter() - t0
        return res


def _short(names, n: int = 4) -> str:
    names = list(names or [])
    return "[" + ", ".join(names[:n]) + (", \u2026" if len(names) > n else "") + f"] ({len(names)})"


class WorkerThread(QThread):
    """Runs the worker's loop; no event loop is needed in this thread."""

    def __init__(self, worker: InferenceWorker) -> None:
        super().__init__()
        self.worker = worker
        self.setObjectName("gcam-inference")

    def run(self) -> None:
        if sys.platform.startswith("linux"):
            # Linux keeps a niceness per thread, inherited by the threads torch starts from
            # here: the models then yield the CPU to the UI thread when cores are scarce.
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
            except OSError:
                pass
        self.worker.run()
