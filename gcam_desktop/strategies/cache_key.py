"""The key a strategies result is cached under: (folder, model, method, layer, class) and the
settings that change the answer. Torch- and Qt-free."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable

from gcam_desktop.strategies.grid import GRID
from gcam_desktop.strategies.result import VERSION


def cache_key(folder: str | os.PathLike | Iterable[str | os.PathLike], model: str, method: str,
              layer: str | None, class_index: int | None, *, grid: int = GRID, duplicates: bool = True,
              k: int | None = None, n_neighbors: int | None = None, seed: int = 0) -> str:
    """A short hex key. `model` is whatever names the weights for the caller (the app's model
    token, a checkpoint's path and mtime); folders are taken as absolute paths. A folder whose
    files change keeps its key: the caller decides when a result is stale."""
    folders = [folder] if isinstance(folder, (str, os.PathLike)) else list(folder)
    text = json.dumps([VERSION, sorted(os.path.abspath(os.fspath(f)) for f in folders), str(model), method,
                       layer or None, class_index, int(grid), bool(duplicates), k, n_neighbors, int(seed)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]
