"""Near-duplicate groups: the connected pieces of the "within threshold" graph. Qt-free."""

from __future__ import annotations

import numpy as np


def duplicate_groups(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Groups (sorted index lists, each of 2 or more) joined by the (i, j, ...) rows of `pairs`.

    A copy of a copy is in the same group even when the two ends are farther apart than the
    threshold: that is what leaks between splits."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    arr = np.asarray(pairs, dtype=np.int64)
    for i, j in (arr[:, :2] if arr.size else ()):
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(root(i), []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
