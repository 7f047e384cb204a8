"""Fingerprints of files, cached by (path, size, modification time) per hash model. Qt-free.

One .npz per HashModel.key under the user data folder: a second pass over the same files
decodes nothing and runs no model. A changed file (size or mtime) is fingerprinted again.
Written atomically; a damaged cache file is ignored and rebuilt.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from gcam_desktop.files import write_npz

log = logging.getLogger(__name__)
SAVE_EVERY = 2000  # images fingerprinted between saves, so an interrupted pass keeps its work


def default_cache_dir() -> Path:
    from gcam_desktop.paths import user_data_dir

    return user_data_dir() / "fingerprints"


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


class FingerprintCache:
    """path -> fingerprint for one hash model key; valid while the file's size and mtime hold."""

    def __init__(self, key: str, folder: str | os.PathLike | None = None) -> None:
        self.key = key
        self.file = Path(folder if folder is not None else default_cache_dir()) / f"{key}.npz"
        self._entries: dict[str, tuple[int, int, int]] = {}
        self._dirty = 0
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.file.is_file():
            return
        try:
            with np.load(self.file, allow_pickle=False) as z:
                if str(z["key"]) != self.key:
                    return
                paths, sizes, mtimes, hashes = z["paths"], z["sizes"], z["mtimes"], z["hashes"]
            self._entries = {str(p): (int(s), int(m), int(h)) for p, s, m, h in zip(paths, sizes, mtimes, hashes)}
        except Exception as exc:  # damaged or foreign: start afresh, it is only a cache
            log.warning("%s: fingerprint cache unreadable (%s); rebuilding it", self.file, exc)
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str | os.PathLike) -> np.uint64 | None:
        path = os.path.abspath(path)
        entry = self._entries.get(path)
        if entry is None or _stat_key(path) != entry[:2]:
            return None
        return np.uint64(entry[2])

    def put(self, path: str | os.PathLike, fingerprint) -> None:
        path = os.path.abspath(path)
        stat = _stat_key(path)
        if stat is not None:
            with self._lock:
                self._entries[path] = (*stat, int(fingerprint))
                self._dirty += 1

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            items = list(self._entries.items())
            self._dirty = 0
        paths = np.array([p for p, _ in items], dtype=str)
        sizes = np.array([e[0] for _, e in items], dtype=np.int64)
        mtimes = np.array([e[1] for _, e in items], dtype=np.int64)
        hashes = np.array([e[2] for _, e in items], dtype=np.uint64)

        try:
            write_npz(self.file, {"key": np.array(self.key), "paths": paths, "sizes": sizes, "mtimes": mtimes,
                                  "hashes": hashes}, fsync=False)
        except OSError as exc:  # a read-only data folder costs speed next time, nothing else
            log.warning("%s: cannot save the fingerprint cache (%s)", self.file, exc)


def fingerprint_files(hash_model, paths: Sequence[str | os.PathLike], cache: FingerprintCache | None = None,
                      batch_size: int = 32, progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(N uint64 fingerprints, N bool "readable", failures [{"path", "reason"}]) of image files.

    Cached fingerprints are taken as they are; the rest are decoded with the shared loader and
    fingerprinted in batches. `progress(done, total)` after each batch; `should_stop()` ends
    early (the rest stay unreadable=False, nothing is reported for them).
    """
    from gcam_desktop.imaging import ImageLoadError, load_image

    n = len(paths)
    hashes = np.zeros(n, np.uint64)
    ok = np.zeros(n, bool)
    failures: list[dict] = []
    todo = []
    for i, p in enumerate(paths):
        h = cache.get(p) if cache is not None else None
        if h is None:
            todo.append(i)
        else:
            hashes[i], ok[i] = h, True
    done = n - len(todo)
    if progress:
        progress(done, n)
    since_save = 0
    for start in range(0, len(todo), batch_size):
        if should_stop is not None and should_stop():
            break
        batch, images = [], []
        for i in todo[start:start + batch_size]:
            try:
                images.append(load_image(paths[i]))
                batch.append(i)
            except ImageLoadError as exc:
                failures.append({"path": str(paths[i]), "reason": exc.reason})
        if images:
            got = hash_model.hash(images, batch_size=batch_size)
            for i, h in zip(batch, got):
                hashes[i], ok[i] = h, True
                if cache is not None:
                    cache.put(paths[i], h)
        done += len(todo[start:start + batch_size])
        since_save += len(batch)
        if cache is not None and since_save >= SAVE_EVERY:
            cache.save()
            since_save = 0
        if progress:
            progress(done, n)
    if cache is not None:
        cache.save()
    return hashes, ok, failures
