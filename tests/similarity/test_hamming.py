"""Hamming distances, pairs, nearest and groups against plain Python bit counting."""

from __future__ import annotations

import numpy as np

from gcam_desktop.similarity import duplicate_groups, hamming, hamming_matrix, nearest, pairs_within


def _bits(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


def _random_hashes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def test_matrix_and_elementwise_match_python_bit_counts():
    h = _random_hashes(300)
    h[0] = np.uint64(2**64 - 1)  # the sign bit set: int64 views must not change the count
    m = hamming_matrix(h[:40], h)
    assert m.shape == (40, 300)
    assert all(m[i, j] == _bits(h[i], h[j]) for i in range(40) for j in range(300))
    assert list(hamming(h[:40], h[40:80])) == [_bits(a, b) for a, b in zip(h[:40], h[40:80])]
    assert hamming_matrix(h[:5]).diagonal().tolist() == [0] * 5


def test_pairs_within_finds_every_close_pair_once():
    base = _random_hashes(200, seed=1)
    flipped = base ^ np.uint64(0b1011)  # 3 bits away from its original
    h = np.concatenate([base, flipped])
    pairs = pairs_within(h, 3)
    expected = {(i, i + 200) for i in range(200)}
    close_by_chance = {(i, j) for i in range(400) for j in range(i + 1, 400) if _bits(h[i], h[j]) <= 3}
    assert {(int(i), int(j)) for i, j, _ in pairs} == close_by_chance >= expected
    assert all(d == _bits(h[i], h[j]) for i, j, d in pairs)
    assert len(pairs_within(h, 2)) == len(close_by_chance) - 200


def test_nearest_orders_by_distance_then_position():
    h = np.array([0b0, 0b1, 0b11, 0b1, 0b111], dtype=np.uint64)
    idx, dist = nearest(np.array([0b1], dtype=np.uint64), h, 4)
    assert idx.tolist() == [[1, 3, 0, 2]] and dist.tolist() == [[0, 0, 1, 1]]
    idx, dist = nearest(h[:2], h, 10)  # k larger than the set: everything, sorted
    assert idx.shape == (2, 5) and dist[0].tolist() == [0, 1, 1, 2, 3]


def test_groups_join_chains_of_copies():
    pairs = np.array([[0, 1, 2], [1, 4, 3], [5, 6, 0]])
    assert duplicate_groups(7, pairs) == [[0, 1, 4], [5, 6]]
    assert duplicate_groups(3, np.zeros((0, 3), np.int64)) == []


def test_groups_are_order_free_and_ignore_self_pairs():
    pairs = np.array([[6, 5, 1], [3, 3, 0], [4, 1, 2], [0, 4, 1]])
    assert duplicate_groups(7, pairs) == [[0, 1, 4], [5, 6]]
    assert duplicate_groups(0, np.zeros((0, 3), np.int64)) == []
