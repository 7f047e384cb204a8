"""Decoding the picture the panels show, off the UI thread: only the newest request counts.

A WorkerThread (app/common/worker_thread.py) with one request key: a newer picture replaces
the one still waiting, the one being decoded finishes. Decoded pictures are kept (UI thread)
for going back and forth.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal

from gcam_desktop.imaging import ImageLoadError, load_image

from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.common.compositing import display_size, to_display
from gcam_desktop.app.common.worker_thread import WorkerThread

KEEP = 6  # decoded pictures kept for going back and forth


class DisplayImageLoader(WorkerThread):
    loaded = Signal(str, object)      # path, H x W x 3 uint8 (display size), for the current path
    failed = Signal(str, str)         # path, reason
    _decoded = Signal(str, object)    # path, array: from the thread to the cache (UI thread)

    def __init__(self) -> None:
        super().__init__("gcam-display-image", autostart=True)
        self._cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(max_items=KEEP)
        self._decoded.connect(self._on_decoded)
        self.current: str | None = None

    def request(self, path: str) -> np.ndarray | None:
        """The picture at once if decoded recently; otherwise decode it and emit `loaded`."""
        self.current = path
        hit = self._cache.get(path)
        if hit is not None:
            return hit
        self.submit("image", self.decode, path)
        return None

    def decode(self, path: str) -> None:
        """Runs in the loader's thread (queued by request())."""
        try:
            # A 100+ MP camera JPEG is decoded at about the shown size (libjpeg's scaling).
            arr = to_display(load_image(path, min_size=lambda w, h: display_size(w, h)))
        except ImageLoadError as exc:
            self.failed.emit(path, exc.reason)
        except Exception as exc:
            self.failed.emit(path, f"cannot show the image ({type(exc).__name__}: {exc})")
        else:
            self._decoded.emit(path, arr)

    def _on_decoded(self, path: str, arr: np.ndarray) -> None:
        self._cache.put(path, arr)
        if path == self.current:
            self.loaded.emit(path, arr)
