"""Lazy thumbnails: decoded in a thread pool on first paint, kept in a cache bounded by bytes.

Only rows the view actually paints ask for a thumbnail, so a 10,000-image folder costs
nothing until scrolled. Requests are served newest first (the rows on screen now) and the
backlog is capped, so scrolling fast through a long list never builds a queue of stale work.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from gcam_desktop.imaging import ImageLoadError, load_image

from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.common.qimage import rgb_to_qimage

THUMB_SIZE = 64
CACHE_BYTES = 48 * 1024 * 1024
MAX_BACKLOG = 256


def make_thumbnail(path: str, size: int = THUMB_SIZE) -> QImage:
    img = load_image(path, min_size=lambda w, h: (min(w, size), min(h, size)))  # decoded small when it can
    img.thumbnail((size, size))
    return rgb_to_qimage(img)


class ThumbnailLoader(QObject):
    """Hands out cached thumbnails and decodes missing ones in `pool`, newest request first."""

    ready = Signal(str)            # path; the image is in the cache now
    failed = Signal(str, str)      # path, reason

    def __init__(self, pool: QThreadPool, size: int = THUMB_SIZE, max_bytes: int = CACHE_BYTES,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.size = size
        self.cache: ByteBoundedCache[QImage] = ByteBoundedCache(max_bytes, QImage.sizeInBytes)
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stack: list[str] = []
        self._queued: set[str] = set()   # in the stack
        self._busy: set[str] = set()     # being decoded
        self._runners = 0
        self._max_runners = max(1, min(2, pool.maxThreadCount()))
        self._closed = False
        self._done = threading.Condition(self._lock)
        self._results = _Results()
        self._results.image.connect(self._on_image)
        self._results.error.connect(self._on_error)

    def get(self, path: str) -> QImage | None:
        """The thumbnail if cached; otherwise schedule it and return None."""
        img = self.cache.get(path)
        if img is not None or path in self.errors:
            return img
        with self._lock:
            if self._closed or path in self._busy:
                return None
            if path in self._queued:
                self._stack.remove(path)  # re-push on top: it is on screen again
            self._stack.append(path)
            self._queued.add(path)
            if len(self._stack) > MAX_BACKLOG:
                for stale in self._stack[: len(self._stack) - MAX_BACKLOG]:
                    self._queued.discard(stale)
                del self._stack[: len(self._stack) - MAX_BACKLOG]
            start = self._runners < self._max_runners
            if start:
                self._runners += 1
        if start:
            self.pool.start(self._run)
        return None

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._stack:
                    self._runners -= 1
                    self._done.notify_all()
                    return
                path = self._stack.pop()
                self._queued.discard(path)
                self._busy.add(path)
            try:
                img = make_thumbnail(path, self.size)
            except ImageLoadError as exc:
                self._results.error.emit(path, exc.reason)
            except Exception as exc:  # a decoder bug must not kill the pool thread
                self._results.error.emit(path, f"cannot make a thumbnail ({type(exc).__name__}: {exc})")
            else:
                self._results.image.emit(path, img)
            finally:
                with self._lock:
                    self._busy.discard(path)

    def _on_image(self, path: str, img: QImage) -> None:
        self.cache.put(path, img)
        self.ready.emit(path)

    def _on_error(self, path: str, reason: str) -> None:
        self.errors[path] = reason
        self.failed.emit(path, reason)

    def pending(self) -> int:
        with self._lock:
            return len(self._stack) + self._runners

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Drop the backlog and wait for the decodes in progress."""
        with self._lock:
            self._closed = True
            self._stack.clear()
            self._queued.clear()
            self._done.wait_for(lambda: self._runners == 0, timeout=timeout_s)


class _Results(QObject):
    """Signals emitted from pool threads; queued to the loader in the UI thread."""

    image = Signal(str, QImage)
    error = Signal(str, str)
