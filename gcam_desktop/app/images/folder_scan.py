"""Background folder scanning: paths arrive in batches so a huge folder never freezes the UI.

A WorkerThread (app/common/worker_thread.py), started by the first scan: each file or folder
queued is one command, scanned in order; batches are sent every ~50 ms (or 2,000 paths),
which keeps the list growing visibly and the number of model resets small (10,000 files
arrive in a handful of inserts).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal

from gcam_desktop.imaging import is_image_path, scan_folder

from gcam_desktop.app.common.worker_thread import WorkerThread

BATCH_SECONDS = 0.05
BATCH_MAX = 2000


class FolderScanner(WorkerThread):
    found = Signal(list)          # list[str] of image paths, in scan order
    problem = Signal(str, str)    # path, message (unreadable folder, not an image, missing)
    finished = Signal(str, int)   # root, number of images found under it

    def __init__(self) -> None:
        super().__init__("gcam-folder-scan", autostart=True)

    def scan(self, paths) -> None:
        """Queue files and folders; files are checked, folders scanned recursively."""
        for p in paths:
            self.call(self.scan_one, Path(p))

    def scan_one(self, root: Path) -> None:
        """Runs in the scanner's thread (queued by scan())."""
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
            if self.cancelled():
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
