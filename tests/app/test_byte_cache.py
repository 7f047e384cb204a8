"""The app's one LRU cache (app/common/byte_cache.py): thumbnails, results, the worker's decoded
pictures, the shown pictures and the upsampled maps all keep their values in it."""

from __future__ import annotations

import pytest

from gcam_desktop.app.common.byte_cache import ByteBoundedCache


def test_bytes_bound_evicts_the_least_recently_used_first():
    cache = ByteBoundedCache(10, len)
    cache.put("a", "xxxx")
    cache.put("b", "xxxx")
    assert cache.get("a") == "xxxx"           # a is now the more recently used
    cache.put("c", "xxxx")                    # 12 bytes > 10: b goes, not a
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.bytes == 8 <= cache.max_bytes


def test_count_bound_keeps_the_newest_n():
    cache = ByteBoundedCache(max_items=2)
    for key in "abc":
        cache.put(key, key.upper())
    assert len(cache) == 2 and "a" not in cache and cache.get("c") == "C"
    assert cache.bytes == 0                   # nothing counts bytes without size_of


def test_both_bounds_hold_at_once():
    cache = ByteBoundedCache(100, len, max_items=2)
    cache.put("a", "x")
    cache.put("b", "x")
    cache.put("c", "x")                       # the count bound bites first
    assert list(k for k in "abc" if k in cache) == ["b", "c"]
    cache.put("d", "x" * 100)                 # then the byte bound: only d fits
    assert len(cache) == 1 and "d" in cache and cache.bytes == 100


def test_the_newest_is_kept_even_over_the_bound():
    cache = ByteBoundedCache(10, len)
    cache.put("small", "xx")
    cache.put("huge", "x" * 50)
    assert "huge" in cache and "small" not in cache and cache.bytes == 50


def test_replacing_and_dropping_keep_the_byte_count_right():
    cache = ByteBoundedCache(100, len)
    cache.put("a", "xxxx")
    cache.put("a", "xx")
    cache.put(("slot", 1), "xxx")
    assert cache.bytes == 5 and len(cache) == 2
    cache.drop(lambda key: isinstance(key, tuple))
    assert cache.bytes == 2 and ("slot", 1) not in cache
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0 and cache.get("a") is None


def test_a_byte_bound_without_a_size_is_refused():
    with pytest.raises(ValueError, match="size_of"):
        ByteBoundedCache(10)

