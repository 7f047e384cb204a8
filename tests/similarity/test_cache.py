"""The fingerprint cache: keyed by path, size and mtime; per model key; survives damage."""

from __future__ import annotations

import os

import numpy as np

from gcam_desktop.similarity import FingerprintCache


def test_cache_round_trip_and_invalidation(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"x" * 10)
    cache = FingerprintCache("v1-abc", tmp_path / "c")
    assert cache.get(f) is None
    cache.put(f, np.uint64(2**63 + 5))
    cache.save()
    again = FingerprintCache("v1-abc", tmp_path / "c")
    assert again.get(f) == np.uint64(2**63 + 5)
    assert FingerprintCache("v1-other", tmp_path / "c").get(f) is None  # another model: nothing shared
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: fingerprint again
    assert again.get(f) is None


def test_damaged_cache_is_rebuilt(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "v1-abc.npz").write_bytes(b"not a zip")
    cache = FingerprintCache("v1-abc", folder)
    assert len(cache) == 0
    f = tmp_path / "b.png"
    f.write_bytes(b"y")
    cache.put(f, 7)
    cache.save()
    assert FingerprintCache("v1-abc", folder).get(f) == 7
