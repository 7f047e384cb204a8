"""Decoding the picture the panels show, off the UI thread: only the newest request counts."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from gcam_desktop.imaging import ImageLoadError, load_image

from gcam_desktop.app.compare.compositing import to_display

KEEP = 6  # decoded pictures kept for going back and forth


class DisplayImageLoader(QObject):
    loaded = Signal(str, object)      # path, H x W x 3 uint8 (display size)
    failed = Signal(str, str)         # path, reason

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wanted: str | None = None
        self._running = False
        self._closed = False
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._results = _Results()
        self._results.loaded.connect(self._on_loaded)
        self._results.failed.connect(self.failed)
        self.current: str | None = None

    def request(self, path: str) -> np.ndarray | None:
        """The picture at once if decoded recently; otherwise decode it and emit `loaded`."""
        self.current = path
        hit = self._cache.get(path)
        if hit is not None:
            self._cache.move_to_end(path)
            return hit
        with self._lock:
            if self._closed:
                return None
            self._wanted = path
            if self._running:
                return None  # the running job picks the newest path when it is done
            self._running = True
        self.pool.start(self._run)
        return None

    def _run(self) -> None:
        while True:
            with self._lock:
                path, self._wanted = self._wanted, None
                if path is None or self._closed:
                    self._running = False
                    self._idle.notify_all()
                    return
            try:
                arr = to_display(load_image(path))
            except ImageLoadError as exc:
                self._results.failed.emit(path, exc.reason)
            except Exception as exc:
                self._results.failed.emit(path, f"cannot show the image ({type(exc).__name__}: {exc})")
            else:
                self._results.loaded.emit(path, arr)

    def _on_loaded(self, path: str, arr: np.ndarray) -> None:
        self._cache[path] = arr
        while len(self._cache) > KEEP:
            self._cache.popitem(last=False)
        if path == self.current:
            self.loaded.emit(path, arr)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            self._wanted = None
            self._idle.wait_for(lambda: not self._running, timeout=timeout_s)


class _Results(QObject):
    loaded = Signal(str, object)
    failed = Signal(str, str)
