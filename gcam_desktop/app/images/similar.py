"""The "Similar" strip: the pictures in the open folders nearest the current one by deep hash.

Fingerprints are made on a WorkerThread (torch imported there, lowered priority), a few files
per background step, the current picture first; they are cached on disk by size and mtime
(gcam_desktop.similarity.FingerprintCache), so a folder opened again costs nothing. The UI
thread only ranks: Hamming distances of one fingerprint against a few thousand is microseconds.
Clicking a picture in the strip makes it the current image, which shows its comparison.
"""

from __future__ import annotations

import traceback
from typing import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gcam_desktop.app.images.image_list import ImageListModel
from gcam_desktop.app.images.thumbnails import ThumbnailLoader
from gcam_desktop.app.common.worker_thread import WorkerThread

STRIP_SIZE = 8       # pictures shown
STEP_FILES = 8       # files fingerprinted per background step: Cancel and the current picture wait at most this
PathRole = Qt.ItemDataRole.UserRole + 1
IDLE_CHECK_MS = 500       # how often the strip looks whether the models' worker has gone idle
START_AFTER_MS = 30_000   # at the latest, whatever the models' worker is doing


class FingerprintWorker(WorkerThread):
    ready = Signal(str, int)          # hash model source, threshold in bits
    fingerprinted = Signal(object)    # {path: fingerprint as int}; object: uint64 fits no Qt integer
    failed = Signal(str)              # no hash model: the strip says so and stays empty

    def __init__(self, device: str = "auto", hash_model: str | None = None) -> None:
        super().__init__("gcam-fingerprints", nice=10)  # started by SimilarPictures, see there
        self.device_name = device
        self.hash_model_name = hash_model
        self._pending: list[str] = []
        self._seen: set[str] = set()
        self.done: set[str] = set()  # files fingerprinted so far (tests read it)

    # -- any thread --------------------------------------------------------------------------
    def add_paths(self, paths) -> None:
        self.call(self._add, [str(p) for p in paths])

    def prioritize(self, path: str) -> None:
        self.submit("current", lambda p: self._fingerprint([p]), str(path))

    # -- the worker thread -------------------------------------------------------------------
    def setup(self) -> bool:
        try:
            from gcam_desktop.similarity import DEFAULT_THRESHOLD, FingerprintCache, pick_hash_model

            self.hm = pick_hash_model(self.hash_model_name, self.device_name)
            self.cache = FingerprintCache(self.hm.key)
            self.hm.hash([Image.new("RGB", (32, 32))])  # first-use costs (kernels, SciPy) here, once
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(f"no fingerprints: {exc}")
            return False
        self.ready.emit(self.hm.source, DEFAULT_THRESHOLD)
        return True

    def teardown(self) -> None:
        cache = getattr(self, "cache", None)
        if cache is not None:
            cache.save()

    def _add(self, paths: list[str]) -> None:
        new = [p for p in paths if p not in self._seen]
        self._seen.update(new)
        self._pending.extend(new)

    def has_background_work(self) -> bool:
        return bool(self._pending)

    def background_step(self) -> None:
        batch, self._pending = self._pending[:STEP_FILES], self._pending[STEP_FILES:]
        self._fingerprint(batch)
        if not self._pending:
            self.cache.save()

    def _fingerprint(self, paths: list[str]) -> None:
        from gcam_desktop.similarity import fingerprint_files

        paths = [p for p in paths if p not in self.done]  # the current picture may have gone first
        if not paths:
            return
        hashes, ok, _ = fingerprint_files(self.hm, paths, self.cache, batch_size=STEP_FILES)
        found = {p: int(h) for p, h, good in zip(paths, hashes, ok) if good}
        self.done.update(found)
        if found:
            self.fingerprinted.emit(found)


class SimilarStrip(QWidget):
    """A row of the nearest pictures to the current one, each with its distance in bits."""

    chosen = Signal(str)  # a picture was clicked

    def __init__(self, thumbnails: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.hashes: dict[str, int] = {}
        self.current: str | None = None
        self.threshold = 16
        self.header = QLabel("Similar")
        self.header.setObjectName("sectionHeader")
        self.status = QLabel("fingerprinting\u2026")
        self.list = QListWidget()
        self.list.setObjectName("similarStrip")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        # Kept short: at 1024 x 700 the panels need the height more than the strip.
        self.list.setIconSize(QSize(48, 48))
        self.list.setGridSize(QSize(88, 70))
        self.list.setFixedHeight(76)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemClicked.connect(lambda item: self.chosen.emit(item.data(PathRole)))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header)
        top.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.list)
        self._rank_timer = QTimer(self, singleShot=True, interval=150)  # batches arrive often: rank once
        self._rank_timer.timeout.connect(self.rank)
        thumbnails.ready.connect(self._thumbnail_ready)

    def on_ready(self, source: str, threshold: int) -> None:
        self.threshold = threshold
        self.status.setToolTip(f"deep perceptual hash, model: {source}; near-duplicate at <= {threshold} bits")

    def on_failed(self, message: str) -> None:
        self.status.setText(message)

    def add_fingerprints(self, found: dict) -> None:
        self.hashes.update(found)
        self._rank_timer.start()

    def set_current(self, path: str | None) -> None:
        self.current = path
        self.rank()

    def rank(self) -> None:
        """Fill the strip for the current picture from the fingerprints known so far."""
        from gcam_desktop.similarity.hamming import hamming

        self.list.clear()
        own = self.hashes.get(self.current) if self.current else None
        others = [p for p in self.hashes if p != self.current]
        self.status.setText(f"{len(self.hashes):,} pictures fingerprinted" if own is not None
                            else "fingerprinting\u2026")
        if own is None or not others:
            return
        d = hamming(np.full(len(others), own, dtype=np.uint64), np.array([self.hashes[p] for p in others], np.uint64))
        for k in np.argsort(d, kind="stable")[:STRIP_SIZE]:
            path, dist = others[k], int(d[k])
            item = QListWidgetItem(f"{dist} bits" + (" \u2248" if dist <= self.threshold else ""))
            item.setData(PathRole, path)
            item.setToolTip(f"{path}\nHamming distance {dist} of 64 bits"
                            + (" (near-duplicate)" if dist <= self.threshold else ""))
            self._set_icon(item, path)
            self.list.addItem(item)

    def items(self) -> list[tuple[str, int]]:
        """(path, distance) of the pictures shown, nearest first."""
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            out.append((item.data(PathRole), int(item.text().split()[0])))
        return out

    def _set_icon(self, item: QListWidgetItem, path: str) -> None:
        img = self.thumbnails.get(path)  # None until decoded in the pool; _thumbnail_ready fills it
        if img is not None and not img.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(img)))

    def _thumbnail_ready(self, path: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(PathRole) == path:
                self._set_icon(item, path)


class SimilarPictures(QObject):
    """The strip and its worker. Knows the image list and the thumbnails; the rest comes in
    through its slots, wired by the main window: `set_current` (the current image changed),
    `maybe_start` (the models' worker answered: it may be idle now), `close`; `chosen` goes out.
    `models_idle()` says whether the models' worker and slots have nothing to do."""

    chosen = Signal(str)  # a picture of the strip was clicked: show its comparison

    def __init__(self, images: ImageListModel, thumbnails: ThumbnailLoader, models_idle: Callable[[], bool],
                 device: str = "auto", hash_model: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.images = images
        self.models_idle = models_idle
        self.strip = SimilarStrip(thumbnails)
        self.worker = FingerprintWorker(device, hash_model)
        self.worker.ready.connect(self.strip.on_ready)
        self.worker.failed.connect(self.strip.on_failed)
        self.worker.fingerprinted.connect(self.strip.add_fingerprints)
        self.strip.chosen.connect(self.chosen)
        images.rowsInserted.connect(self._rows_added)
        self._closed = False
        if images.paths:
            self.worker.add_paths(list(images.paths))
        # Fingerprinting loads a ResNet50 of its own: on two cores it slowed the second and third
        # panels' first maps, so it waits until the models' worker is idle (every panel has its
        # first map, or there is no model) or START_AFTER_MS at most.
        self._waited = QElapsedTimer()
        self._waited.start()
        self._idle_check = QTimer(self, interval=IDLE_CHECK_MS)
        self._idle_check.timeout.connect(self.maybe_start)
        self._idle_check.start()

    def maybe_start(self, *_args) -> None:
        if self.worker.isRunning() or self._closed:
            self._idle_check.stop()
        elif self.models_idle() or self._waited.elapsed() >= START_AFTER_MS:
            self._idle_check.stop()
            self.worker.start()

    def close(self) -> None:
        self._closed = True
        self._idle_check.stop()
        self.worker.shutdown()

    def set_current(self, path: str | None) -> None:
        self.strip.set_current(path)
        if path and path not in self.strip.hashes:
            self.worker.prioritize(path)

    def _rows_added(self, _parent, first: int, last: int) -> None:
        self.worker.add_paths(self.images.paths[first:last + 1])
