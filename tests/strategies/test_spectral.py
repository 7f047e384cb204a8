"""The spectral part of the strategies: the eigengap on hand-made block-diagonal affinities,
and the clustering of precomputed maps (the fast representative of the whole analysis)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import block_diag

from gcam_desktop.strategies.spectral import analyse, eigengap_k, spectrum


def block_affinity(sizes, inside=1.0, between=0.01, seed=0) -> np.ndarray:
    """Blocks of strongly joined nodes, weakly joined to each other, a little noise: a graph of
    len(sizes) groups."""
    rng = np.random.default_rng(seed)
    a = block_diag(*[np.full((s, s), inside) for s in sizes])
    n = a.shape[0]
    noise = rng.uniform(0, between, (n, n))
    a = np.where(a > 0, a - rng.uniform(0, 0.2, (n, n)), noise)
    a = (a + a.T) / 2
    np.fill_diagonal(a, 0)
    return a


@pytest.mark.parametrize("sizes", [(20, 20), (15, 25, 30), (10, 12, 14, 16, 18), (30, 8, 8, 8, 8, 8, 8)])
def test_eigengap_recovers_the_number_of_blocks(sizes):
    values, _ = spectrum(block_affinity(sizes), 11)
    assert eigengap_k(values, 10) == len(sizes)
    # The k smallest eigenvalues sit near 0, the next one well above them.
    assert values[len(sizes) - 1] < 0.1 < values[len(sizes)]


def test_eigengap_rule_on_plain_values():
    assert eigengap_k([0.0, 0.01, 0.02, 0.6, 0.65], 4) == 3
    assert eigengap_k([0.0, 0.7, 0.75, 0.8], 3) == 1  # one group: the largest gap comes first
    assert eigengap_k([0.0, 0.1, 0.2, 0.3, 0.9], 3) == 1  # equal gaps up to max_k: the smaller k; the big gap lies beyond max_k
    assert eigengap_k([0.0], 5) == 1


def blob_maps(n_per, centres, side=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    maps, truth = [], []
    for g, (cy, cx) in enumerate(centres):
        for _ in range(n_per):
            y, x = cy + rng.normal(0, 0.7), cx + rng.normal(0, 0.7)
            maps.append(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0) + rng.normal(0, 0.03, (side, side)))
            truth.append(g)
    return np.array(maps, np.float32), np.array(truth)


def test_analyse_finds_the_strategies_of_precomputed_maps():
    from sklearn.metrics import adjusted_rand_score

    maps, truth = blob_maps(40, [(3, 3), (12, 12), (3, 12)])
    c = analyse(maps, seed=0)
    assert c.eigengap_k == 3 and c.k == 3
    assert adjusted_rand_score(truth, c.labels) > 0.95
    assert c.layout.shape == (120, 2) and np.isfinite(c.layout).all()
    assert c.embedding.shape == (120, 3)
    # Clusters are numbered by size, largest first.
    assert (np.diff(np.bincount(c.labels)) <= 0).all()
    # The user's k overrides the eigengap's; the eigengap's suggestion is still reported.
    forced = analyse(maps, k=2, layout=False)
    assert forced.k == 2 and forced.eigengap_k == 3 and set(forced.labels) == {0, 1}
    assert not forced.layout.any()


def test_tiny_inputs():
    one = analyse(np.ones((1, 4, 4)))
    assert one.k == 1 and list(one.labels) == [0]
    with pytest.raises(ValueError, match="no maps"):
        analyse(np.zeros((0, 4, 4)))
    few = analyse(np.random.default_rng(0).uniform(size=(5, 4, 4)), layout=False)
    assert 1 <= few.k <= 3 and len(few.labels) == 5
