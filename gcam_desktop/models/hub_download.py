"""timm's weights through huggingface_hub, under download.py's stall guard. Qt-free.

huggingface_hub reads the body in 10 MB pieces and only then calls its tqdm hook, so a server
that trickles a byte now and then never reaches the hook, and its read timeout never fires; a
silent one gets five "Trying to resume download..." retries. So its HTTP client (set through
its public `set_client_factory`) gets two event hooks which, while this thread has a Transfer
running, see every network read of the response (progress, cancel, stall, SHA-256), cap the
read timeout, and end a retry loop that makes no progress. A stall or a wrong SHA-256 raises
inside huggingface_hub's read loop, which removes its `.incomplete` file: nothing reaches the
cache. Its warnings are silenced meanwhile; the one line the user sees is ours.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from .download import Transfer, _check_cancel, _probe, _signals_end, _unreachable
from .pretrained import _HF_CONFIG, _HF_REPO, _HF_WEIGHTS, PretrainedError, WeightsSource, _hf_endpoint, hf_cache_dir
from .weights_hash import _SHA256, remember

_running = threading.local()  # .transfer: the Transfer of this thread's hub download, if any
_installed = []


def _transfer() -> Transfer | None:
    return getattr(_running, "transfer", None)


def _http_module(client):
    return sys.modules[type(client).__module__.split(".")[0]]  # httpx2 (huggingface_hub 2) or httpx (1)


def _guarded_client():
    from huggingface_hub.utils._http import default_client_factory  # the hub's own settings and hooks

    client = default_client_factory()
    http = _http_module(client)

    class Stream(http.SyncByteStream):
        def __init__(self, inner, transfer: Transfer) -> None:
            self.inner, self.transfer = inner, transfer

        def __iter__(self):
            try:
                for chunk in self.inner:
                    self.transfer.add(chunk)
                    yield chunk
            except http.TimeoutException:
                raise self.transfer.stalled(f"no data for {self.transfer.read_timeout:g} s") from None
            self.transfer.finish()

        def close(self) -> None:
            self.inner.close()

    def on_request(request) -> None:
        transfer = _transfer()
        if transfer is not None:
            transfer.check()  # a retry after no progress for the whole window ends here
            timeout = dict(request.extensions.get("timeout") or {})
            timeout["read"] = min(timeout.get("read") or transfer.read_timeout, transfer.read_timeout)
            request.extensions = {**request.extensions, "timeout": timeout}

    def on_response(response) -> None:
        transfer = _transfer()
        if transfer is None:
            return
        if response.request.method == "HEAD":  # the hub names an LFS blob by its SHA-256: the ETag
            etag = (response.headers.get("X-Linked-Etag") or response.headers.get("ETag") or "")
            etag = etag.removeprefix("W/").strip('"')
            transfer.expect = etag if _SHA256.fullmatch(etag) else None
        elif response.request.method == "GET" and response.status_code in (200, 206):
            if response.status_code == 200 and transfer.done:
                transfer.restart()  # a resume answered with the whole file
            length = response.headers.get("Content-Length")
            if response.status_code == 200 and length and length.isdigit():
                transfer.started(int(length))
            response.stream = Stream(response.stream, transfer)

    hooks = client.event_hooks
    hooks["request"].append(on_request)
    hooks["response"].append(on_response)
    client.event_hooks = hooks
    return client


@contextmanager
def _running_transfer(transfer: Transfer):
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import logging as hub_logging

    if not _installed:  # once per process; without a running Transfer the hooks do nothing
        set_client_factory(_guarded_client)
        _installed.append(True)
    hub = hub_logging.get_logger("huggingface_hub")
    level = hub.level
    hub.setLevel(logging.ERROR)  # "Trying to resume download...", "Retrying in 1s": ours is the one line
    _running.transfer = transfer
    transfer.begin()
    try:
        yield
    finally:
        _running.transfer = None
        hub.setLevel(level)


def _hub_file(src: WeightsSource, filename: str, transfer: Transfer) -> Path:
    from huggingface_hub import hf_hub_download
    from tqdm import tqdm

    class Silent(tqdm):  # the Transfer reports progress; the hub's own bar stays hidden
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

    _check_cancel(src.ref, transfer.cancel)
    with _running_transfer(transfer):
        return Path(hf_hub_download(_HF_REPO, filename, cache_dir=str(hf_cache_dir()), endpoint=_hf_endpoint(),
                                    etag_timeout=transfer.read_timeout, tqdm_class=Silent))


def download_hf(src: WeightsSource, weights: Transfer, config: Transfer, timeout: float) -> tuple[Path, Path | None]:
    """(weights file, config.json or None) in the hub cache; config.json is optional."""
    from huggingface_hub import constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; honour a later setting too.
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise _unreachable(src, "HF_HUB_OFFLINE is set")
    _probe(src, src.url, timeout)
    with _signals_end(weights):
        try:
            config_path = _hub_file(src, _HF_CONFIG, config)
        except PretrainedError:
            raise
        except Exception:  # the weights alone will do: defaults stand in for the config
            config_path = None
        try:
            path = _hub_file(src, _HF_WEIGHTS, weights)
        except PretrainedError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _unreachable(src, first) from None
    if weights.expect and weights.done:  # checked as it arrived: no second read of 100 MB
        remember(path)
    return path, config_path
