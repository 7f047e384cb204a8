"""Near-duplicate groups: the connected pieces of the "within threshold" graph. Qt-free."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components


def duplicate_groups(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Groups (sorted index lists, each of 2 or more) joined by the (i, j, ...) rows of `pairs`.

    A copy of a copy is in the same group even when the two ends are farther apart than the
    threshold: that is what leaks between splits."""
    arr = np.asarray(pairs, dtype=np.int64)
    if arr.size == 0:
        return []
    graph = coo_array((np.ones(len(arr), dtype=np.int8), (arr[:, 0], arr[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for index, group in enumerate(label.tolist()):
        members.setdefault(group, []).append(index)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
