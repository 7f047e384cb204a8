"""The DCT-and-median step of the deep hash, checked against SciPy's DCT written out here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.fft import dctn

from gcam_desktop.similarity import HASH_BITS, from_hex, hash_from_features, to_hex


def test_bit_k_is_coefficient_k_above_the_median():
    rng = np.random.default_rng(0)
    f = rng.random((5, 64, 64)).astype(np.float32)
    h = hash_from_features(f)
    assert (hash_from_features(f.reshape(5, -1)) == h).all()  # flat F gives the same bits
    # Rows 0-7, even columns 0-14 of the 2-D DCT, row-major.
    coeffs = np.stack([[dctn(m.astype(np.float64), norm="ortho")[r, c] for r in range(8) for c in range(0, 16, 2)]
                       for m in f])
    for row, value in zip(coeffs, h):
        bits = [(int(value) >> k) & 1 for k in range(HASH_BITS)]
        assert bits == [int(c > np.median(row)) for c in row]
        assert sum(bits) == 32  # the median splits 64 distinct values in halves


def test_hash_ignores_scale_and_needs_enough_features():
    rng = np.random.default_rng(1)
    f = rng.random((3, 32, 32))
    assert (hash_from_features(f) == hash_from_features(f * 7.5)).all()
    with pytest.raises(ValueError, match="S >= 16"):
        hash_from_features(f[:, :8, :8])
    with pytest.raises(ValueError, match="square"):
        hash_from_features(np.zeros((2, 300)))


def test_hex_round_trip():
    assert to_hex(np.uint64(2**64 - 2)) == "fffffffffffffffe"
    assert from_hex("00000000000000ff") == 255
