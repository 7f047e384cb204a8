"""The UI side of the inference worker: thread lifetime, the result cache, request routing.

Lives in the UI thread. A request whose result is cached is answered at once without
touching the worker; otherwise it goes to the worker, which supersedes any request still
queued for the same slot. Results of superseded requests are cached but not shown.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.inference.messages import EngineInfo, ExplainRequest, ExplainResult, ModelInfo, off_channel
from gcam_desktop.app.inference.worker import InferenceWorker

CACHE_BYTES = 256 * 1024 * 1024


class InferenceService(QObject):
    """Owns the worker thread; the main window's single door to the models.

    The worker's signals are declared once, on the worker: listen to `service.worker.<signal>`
    (engine_state, engine_ready, model_loaded, model_failed, model_unloaded, device_changed,
    started_request, job_*). The service connects its own bookkeeping first, in __init__, and
    Qt calls slots in the order they were connected, so the cache and `models` are up to date
    before any other listener hears of a model. `result_ready` is the service's own signal:
    only the newest request of each panel is answered.
    """

    result_ready = Signal(object)          # ExplainResult for the newest request of its panel

    def __init__(self, device: str = "auto", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = InferenceWorker(device)
        # Results keyed by (image, model token, method, layer, class), LRU bounded by bytes.
        self.cache: ByteBoundedCache[ExplainResult] = ByteBoundedCache(CACHE_BYTES, ExplainResult.nbytes)
        self.models: dict[str, ModelInfo] = {}
        self.engine_info: EngineInfo | None = None
        self._latest: dict[str, int] = {}          # slot -> id of the newest request
        self._in_flight: dict[tuple, list[ExplainRequest]] = {}
        self.cache_hits = 0
        w = self.worker
        w.engine_ready.connect(self._on_engine_ready)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_unloaded.connect(self._on_model_unloaded)
        w.result.connect(self._on_result)

    # -- lifetime ------------------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the worker and wait for its thread (a running explanation finishes first)."""
        return self.worker.shutdown(timeout_ms)

    @property
    def ready(self) -> bool:
        return self.engine_info is not None

    def idle(self) -> bool:
        """The engine is up and has nothing queued or running."""
        return self.ready and not self.worker.busy()

    # -- models --------------------------------------------------------------------------
    def load_model(self, slot: str, path: str, arch: str | None = None,
                   expect_classes: list[str] | None = None) -> None:
        self.worker.call(self.worker.load_model, slot, str(path), arch, expect_classes)

    def build_untrained(self, slot: str, arch: str, class_names: list[str], input_size: int = 128) -> None:
        self.worker.call(self.worker.build_model, slot, arch, list(class_names), input_size)

    def unload_model(self, slot: str) -> None:
        self.cancel(slot)
        self.worker.call(self.worker.unload_model, slot)

    def set_device(self, name: str) -> None:
        self.worker.call(self.worker.set_device, name)

    def run_job(self, name: str, fn, *args, **kwargs) -> None:
        """fn(worker, *args, **kwargs) runs in the worker thread, where the models are."""
        self.worker.call(self.worker.run_job, name, fn, *args, **kwargs)

    def cancel_job(self) -> None:
        self.worker.cancel()

    # -- explanations ----------------------------------------------------------------------
    def request(self, req: ExplainRequest) -> ExplainResult | None:
        """The cached result at once, or None after queueing `req` (answered by result_ready)."""
        self._latest[req.channel] = req.id
        self.worker.want(req.channel, req.key)   # a long method running for another key stops
        hit = self.cache.get(req.key)
        if hit is not None:
            self.cache_hits += 1
            self._forget(self.worker.cancel_slot(req.channel))  # what was queued is moot now
            return hit if hit.request is req else _for(hit, req)
        waiting = self._in_flight.get(req.key)
        if waiting is not None:  # the same computation is queued or running already
            waiting.append(req)
            self._forget(self.worker.cancel_slot(req.channel, keep_key=req.key))
            return None
        self._in_flight[req.key] = [req]
        self._forget(self.worker.submit_request(req))
        return None

    def _forget(self, dropped: ExplainRequest | None) -> None:
        """A request the worker dropped unanswered: nobody waits for its key any more."""
        if dropped is not None:
            self._in_flight.pop(dropped.key, None)

    def cancel(self, slot: str) -> None:
        """Drop what is queued for a slot's panel and for its attention-off panel."""
        for channel in (slot, off_channel(slot)):
            self.cancel_channel(channel)

    def cancel_channel(self, channel: str) -> None:
        """Drop what is queued for a panel and stop a long method running for it."""
        self._latest.pop(channel, None)
        self.worker.want(channel, None)
        self._forget(self.worker.cancel_slot(channel))

    def is_latest(self, req: ExplainRequest) -> bool:
        return self._latest.get(req.channel) == req.id

    def _on_result(self, res: ExplainResult) -> None:
        waiting = self._in_flight.pop(res.request.key, [res.request])
        if res.cancelled:
            # Stopped because its panel moved on: nothing to show or cache. A panel that came
            # back to it meanwhile (joined while it was stopping) asks again.
            again = [req for req in waiting if self._latest.get(req.channel) == req.id]
            if again:
                self._in_flight[res.request.key] = again
                self._forget(self.worker.submit_request(again[0]))
            return
        if res.ok:
            self.cache.put(res.request.key, res)
        for req in waiting:
            if self._latest.get(req.channel) == req.id and not res.stale:
                self.result_ready.emit(res if req is res.request else _for(res, req))

    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine_info = info

    def _on_model_loaded(self, info: ModelInfo) -> None:
        old = self.models.get(info.slot)
        if old is not None:
            self.cache.drop(lambda key: key[1] == old.token)
        self.models[info.slot] = info

    def _on_model_unloaded(self, slot: str) -> None:
        old = self.models.pop(slot, None)
        if old is not None:
            self.cache.drop(lambda key: key[1] == old.token)


def _for(res: ExplainResult, req: ExplainRequest) -> ExplainResult:
    """The same result addressed to another request (two panels asked the same thing)."""
    from dataclasses import replace

    return replace(res, request=req)
