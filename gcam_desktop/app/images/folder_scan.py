"""Background folder scanning: paths arrive in batches so a huge folder never freezes the UI.

One thread works through the queued roots in order and exits when none are left; batches are
sent every ~50 ms (or 2,000 paths), which keeps the list growing visibly and the number of
model resets small (10,000 files arrive in a handful of inserts).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gcam_desktop.imaging import is_image_path, scan_folder

from gcam_desktop.app.shell.lifecycle import track

BATCH_SECONDS = 0.05
BATCH_MAX = 2000


class FolderScanner(QObject):
    found = Signal(list)          # list[str] of image paths, in scan order
    problem = Signal(str, str)    # path, message (unreadable folder, not an image, missing)
    finished = Signal(str, int)   # root, number of images found under it
    idle = Signal()               # nothing left to scan

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._roots: deque[Path] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def scan(self, paths) -> None:
        """Queue files and folders; files are checked, folders scanned recursively."""
        with self._lock:
            self._roots.extend(Path(p) for p in paths)
            if self._thread is None:
                self._cancel.clear()
                self._thread = threading.Thread(target=self._run, name="gcam-folder-scan", daemon=True)
                track(self._thread).start()

    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        while True:
            with self._lock:
                # Decided under the lock: a root queued from now on starts a new thread.
                if self._cancel.is_set() or not self._roots:
                    self._thread = None
                    break
                root = self._roots.popleft()
            self._scan_one(root)
        if not self._cancel.is_set():
            self.idle.emit()

    def _scan_one(self, root: Path) -> None:
        if root.is_file() or not root.exists():
            if not root.exists():
                self.problem.emit(str(root), "no such file or folder")
            elif is_image_path(root):
                self.found.emit([str(root)])
                self.finished.emit(str(root), 1)
            else:
                self.problem.emit(str(root), f"not an image file (extension {root.suffix or 'none'})")
            return
        batch: list[str] = []
        count = 0
        last = time.monotonic()
        for path in scan_folder(root, on_error=lambda p, msg: self.problem.emit(str(p), msg)):
            if self._cancel.is_set():
                return
            batch.append(str(path))
            now = time.monotonic()
            if len(batch) >= BATCH_MAX or now - last >= BATCH_SECONDS:
                count += len(batch)
                self.found.emit(batch)
                batch, last = [], now
        if batch:
            count += len(batch)
            self.found.emit(batch)
        self.finished.emit(str(root), count)

    def cancel(self, timeout_s: float = 10.0) -> None:
        """Stop scanning and wait for the thread (called when the window closes)."""
        self._cancel.set()
        with self._lock:
            self._roots.clear()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
