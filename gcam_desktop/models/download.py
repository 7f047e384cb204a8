"""Downloading ImageNet weights into their caches (the sources are in pretrained.py). Qt-free.

Found in the cache: no network at all. Otherwise one download with a progress callback (or a
tqdm bar on a terminal), cancellable, its SHA-256 checked, written atomically. Offline and not
cached: a PretrainedError within seconds naming the URL and the exact file to put in place.
See docs/adr/0013-imagenet-weights.md.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import threading
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from ..files import atomic_write
from .pretrained import (_HF_CONFIG, _HF_REPO, _HF_WEIGHTS, DownloadCancelled, PretrainedError, Progress,
                         WeightsSource, _hf_endpoint, hf_cache_dir, is_pretrained_ref, parse_ref, source)

TIMEOUT_S = 8.0  # connect / read timeout: an unreachable host fails in seconds, never hangs
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _terminal_bar(desc: str):
    from tqdm import tqdm

    return tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                file=sys.stderr, disable=None, dynamic_ncols=True)  # disable=None: only on a terminal


def _check_cancel(ref: str, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(ref, "download cancelled; nothing was kept")


def _unreachable(src: WeightsSource, why: str) -> PretrainedError:
    return PretrainedError(
        src.ref, f"not in the cache and cannot be downloaded ({why}). Download {src.url} "
                 f"on a machine with internet access and put the file at {src.cache_path}")


def _probe(src: WeightsSource, url: str, timeout: float) -> None:
    """Fail at once when the host cannot be reached (offline, no DNS) instead of retrying."""
    parts = urlparse(url)
    if parts.scheme == "file":
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise _unreachable(src, f"{parts.hostname} unreachable: {exc.strerror or exc}") from None


def _download_url(src: WeightsSource, progress: Progress, cancel, timeout: float) -> Path:
    """torch.hub's convention (file name from the URL, `name-<sha256 prefix>.ext` checked) with a
    timeout, a progress callback and cancel, which torch.hub.download_url_to_file lacks."""
    match = re.search(r"-([a-f0-9]{8,})\.", src.cache_path.name)
    hash_prefix = match.group(1) if match else None
    _probe(src, src.url, timeout)
    try:
        response = urlopen(Request(src.url, headers={"User-Agent": "gcam-desktop"}), timeout=timeout)
    except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise _unreachable(src, str(getattr(exc, "reason", exc))) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        progress(0, total)

        def write(tmp: str) -> None:
            digest, done = hashlib.sha256(), 0
            with open(tmp, "wb") as fh:
                while True:
                    _check_cancel(src.ref, cancel)
                    try:
                        chunk = response.read(1 << 16)
                    except (OSError, http.client.HTTPException) as exc:
                        raise PretrainedError(src.ref, f"download from {src.url} broke off after {done} bytes "
                                                       f"({type(exc).__name__}); nothing was kept, try again") from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress(done, total)
            if total is not None and done != total:
                raise PretrainedError(src.ref, f"download from {src.url} is truncated ({done} of {total} bytes); "
                                               f"nothing was kept, try again")
            if hash_prefix and not digest.hexdigest().startswith(hash_prefix):
                raise PretrainedError(src.ref, f"download from {src.url} is corrupt: SHA-256 {digest.hexdigest()[:16]}... "
                                               f"does not start with {hash_prefix}; nothing was kept")

        atomic_write(src.cache_path, write)
    return src.cache_path


def _hf_tqdm(ref: str, progress: Progress, cancel):
    """A tqdm class for huggingface_hub that reports to `progress` and stops on `cancel`."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # our own callback (or terminal bar) shows the progress
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)
            self.expected = kwargs.get("total")

        def update(self, n=1):
            _check_cancel(ref, cancel)
            self.done += int(n or 0)
            progress(self.done, self.expected)
            return super().update(n)

    return Bar


def _download_hf(src: WeightsSource, progress: Progress, cancel, timeout: float) -> tuple[Path, Path | None]:
    from huggingface_hub import constants, hf_hub_download

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; honour a later setting too.
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise _unreachable(src, "HF_HUB_OFFLINE is set")

    _probe(src, src.url, timeout)
    files = []
    for filename in (_HF_CONFIG, _HF_WEIGHTS):
        _check_cancel(src.ref, cancel)
        try:
            path = hf_hub_download(_HF_REPO, filename, cache_dir=str(hf_cache_dir()), endpoint=_hf_endpoint(),
                                   etag_timeout=timeout,
                                   tqdm_class=_hf_tqdm(src.ref, progress if filename == _HF_WEIGHTS else
                                                       (lambda d, t: None), cancel))
        except PretrainedError:
            raise
        except Exception as exc:
            if filename == _HF_CONFIG:  # the weights alone will do: defaults stand in for the config
                files.append(None)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _unreachable(src, first) from None
        files.append(Path(path))
    config, weights = files
    _verify_hf_blob(src, weights)
    return weights, config


def _verify_hf_blob(src: WeightsSource, path: Path) -> None:
    """The hub names a large file's blob by its SHA-256 (the ETag): check the content against it."""
    blob = path.resolve()
    if not _SHA256.fullmatch(blob.name):
        return
    digest = hashlib.sha256()
    with open(blob, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != blob.name:
        for p in {path, blob}:
            p.unlink(missing_ok=True)
        raise PretrainedError(src.ref, f"download from {src.url} is corrupt: SHA-256 {digest.hexdigest()[:16]}... "
                                       f"is not the announced {blob.name[:16]}...; nothing was kept")


def fetch(arch: str, progress: Progress | None = None, cancel: threading.Event | None = None,
          timeout: float = TIMEOUT_S) -> Path:
    """The weights file of `arch` (an arch or "imagenet:ARCH"): from the cache, else downloaded.

    `progress(done, total)` is called during a download (default: a tqdm bar on a terminal);
    setting `cancel` stops it with DownloadCancelled.
    """
    if is_pretrained_ref(arch):
        arch = parse_ref(arch)
    src = source(arch)
    if src.cache_path.is_file():
        return src.cache_path
    bar = None
    if progress is None:
        bar = _terminal_bar(f"{src.ref} ({src.provider})")

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        if arch == "resnet50":
            return _download_url(src, progress, cancel, timeout)
        return _download_hf(src, progress, cancel, timeout)[0]
    finally:
        if bar is not None:
            bar.close()
