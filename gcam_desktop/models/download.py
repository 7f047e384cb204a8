"""Downloading ImageNet weights into their caches (the sources are in pretrained.py). Qt-free.

Found in the cache: no network at all; a file whose name carries a hash is checked once
(weights_hash.py). Otherwise one download with a progress callback (or a tqdm bar on a
terminal), cancellable, its SHA-256 checked before it is moved into the cache. Offline and not
cached: a PretrainedError within seconds naming the URL and the exact file to put in place. A
download that stalls (a per-read timeout misses a server that trickles a byte now and then)
ends with one such line too, and on the main thread SIGINT / SIGTERM end it with
DownloadInterrupted, leaving no partial file. See docs/adr/0013-imagenet-weights.md.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from ..files import atomic_write
from .checkpoint import read_file
from .meta import CheckpointError
from .pretrained import DownloadCancelled, PretrainedError, Progress, WeightsSource
from .weights_hash import remember

TIMEOUT_S = 8.0  # connect / read timeout: an unreachable host fails in seconds, never hangs
# A download must gain STALL_BYTES within every STALL_WINDOW_S seconds (8.7 kB/s on average),
# else it has stalled: a read timeout alone never fires while a server trickles a byte at a time.
STALL_BYTES = 256 * 1024
STALL_WINDOW_S = 30.0
_STALL_ENV = ("GCAM_DESKTOP_STALL_BYTES", "GCAM_DESKTOP_STALL_WINDOW_S")  # tests make both small


class DownloadInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM ended a download; str() is one line, `signum` the signal. Nothing was kept.

    A KeyboardInterrupt, so the program stops (an `except Exception` does not swallow it)."""

    def __init__(self, ref: str, signum: int, done: int) -> None:
        super().__init__(f"{ref}: download interrupted ({signal.Signals(signum).name}) after {done} bytes; "
                         f"nothing was kept")
        self.signum = signum


def stall_limits() -> tuple[int, float]:
    """(bytes, seconds): the environment's override, else STALL_BYTES in STALL_WINDOW_S."""
    try:
        return int(os.environ.get(_STALL_ENV[0]) or STALL_BYTES), float(os.environ.get(_STALL_ENV[1]) or STALL_WINDOW_S)
    except ValueError:
        return STALL_BYTES, STALL_WINDOW_S


class Transfer:
    """One file's download: fed every network read, it reports progress, honours cancel, ends a
    stall and hashes the bytes so they are checked before they reach the cache."""

    def __init__(self, src: WeightsSource, progress: Progress, cancel, stall: tuple[int, float],
                 timeout: float, expect: str | None = None) -> None:
        self.src, self.progress, self.cancel, self.expect = src, progress, cancel, expect
        self.min_bytes, self.window = stall
        self.read_timeout = min(timeout, self.window)
        self.total: int | None = None
        self.restart()

    def restart(self) -> None:
        """From the first byte again (a server that ignored a resume request)."""
        self.done, self.digest = 0, hashlib.sha256()
        self.begin()

    def begin(self) -> None:
        """The stall window starts now (not when the Transfer was made, perhaps files ago)."""
        self._mark = (time.monotonic(), self.done)

    def started(self, total: int | None) -> None:
        self.total = self.total if total is None else total
        self.progress(self.done, self.total)

    def add(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.done += len(chunk)
        self.progress(self.done, self.total)
        self.check()

    def check(self) -> None:
        _check_cancel(self.src.ref, self.cancel)
        since, base = self._mark
        now = time.monotonic()
        if self.done - base >= self.min_bytes:
            self._mark = (now, self.done)
        elif now - since > self.window:
            raise self.stalled(f"fewer than {self.min_bytes} bytes in {self.window:g} s")

    def stalled(self, why: str) -> PretrainedError:
        s = self.src
        return PretrainedError(s.ref, f"download from {s.url} stalled after {self.done} bytes ({why}); nothing "
                                      f"was kept. Download {s.url} over a better connection and put the file at "
                                      f"{s.cache_path}")

    def finish(self) -> None:
        """Raise unless the whole file arrived with the promised SHA-256."""
        s = self.src
        if self.total is not None and self.done != self.total:
            raise PretrainedError(s.ref, f"download from {s.url} is truncated ({self.done} of {self.total} bytes); "
                                         f"nothing was kept, try again")
        got = self.digest.hexdigest()
        if self.expect and not got.startswith(self.expect):
            raise PretrainedError(s.ref, f"download from {s.url} is corrupt: SHA-256 {got[:16]}... does not start "
                                         f"with {self.expect[:16]}; nothing was kept")


@contextmanager
def _signals_end(transfer: Transfer):
    """On the main thread, SIGINT and SIGTERM raise DownloadInterrupted in the download, so its
    clean-up runs (SIGTERM's default would end the process with the partial file left)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handle(signum, frame) -> None:
        if not fired:  # once: a second Ctrl+C must not cut the clean-up short
            fired.append(signum)
            raise DownloadInterrupted(transfer.src.ref, signum, transfer.done)

    saved = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if sig}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


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


def _download_url(src: WeightsSource, transfer: Transfer, timeout: float) -> None:
    """torch.hub's convention (file name from the URL, `name-<sha256 prefix>.ext` checked) with a
    timeout, a stall guard, a progress callback and cancel, which torch.hub.download_url_to_file lacks."""
    _probe(src, src.url, timeout)
    transfer.begin()
    try:
        response = urlopen(Request(src.url, headers={"User-Agent": "gcam-desktop"}), timeout=transfer.read_timeout)
    except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise _unreachable(src, str(getattr(exc, "reason", exc))) from None
    with response:
        length = response.headers.get("Content-Length")
        transfer.started(int(length) if length and length.isdigit() else None)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                while True:
                    transfer.check()
                    chunk = _read(src, response, transfer)
                    if not chunk:
                        break
                    fh.write(chunk)
                    transfer.add(chunk)
            transfer.finish()
            if transfer.expect is None:  # no hash to go by: at least the weights it should hold
                _check_content(src, tmp)

        atomic_write(src.cache_path, write)
    if transfer.expect:  # hashed as it arrived: no second read on first use
        remember(src.cache_path)


def _read(src: WeightsSource, response, transfer: Transfer) -> bytes:
    try:
        return response.read1(1 << 16)  # what has arrived, not a full 64 KiB (read() waits for all of it)
    except TimeoutError:
        raise transfer.stalled(f"no data for {transfer.read_timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise PretrainedError(src.ref, f"download from {src.url} broke off after {transfer.done} bytes "
                                       f"({type(exc).__name__}); nothing was kept, try again") from None


def _check_content(src: WeightsSource, tmp: str) -> None:
    try:
        arch = read_file(tmp)[1].get("arch")
    except CheckpointError as exc:
        raise PretrainedError(src.ref, f"download from {src.url} is not a weights file ({exc.problem}); "
                                       f"nothing was kept") from None
    if arch != src.arch:
        raise PretrainedError(src.ref, f"download from {src.url} holds {arch} weights, not {src.arch}; "
                                       f"nothing was kept")
