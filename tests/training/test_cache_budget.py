"""Decoded images in memory only when they fit the budget; otherwise decoded per batch, alike."""

from __future__ import annotations

import pytest
import json

import torch

from training import TrainConfig, train
from training.cache_budget import GB, choose_cache

# 1000 images at 100 px: 30 MB decoded.
N, SIZE, NEED = 1000, 100, 1000 * 100 * 100 * 3


def test_an_explicit_budget_decides_and_says_why():
    fits = choose_cache(N, SIZE, cache_gb=0.05)
    assert fits.cached and "fits the cache budget 0.05 GB (--cache-gb 0.05)" in fits.reason
    assert fits.decoded_gb == round(NEED / GB, 3)
    over = choose_cache(N, SIZE, cache_gb=0.02)
    assert not over.cached and "exceeds the cache budget 0.02 GB" in over.reason and "per batch" in over.reason
    off = choose_cache(N, SIZE, cache_gb=0)
    assert not off.cached and off.reason.startswith("--cache-gb 0")


def test_the_default_budget_is_half_the_available_memory_shared_by_the_processes():
    assert choose_cache(N, SIZE, None, available=int(0.1 * GB)).cached  # 30 MB <= 50 MB
    two = choose_cache(N, SIZE, None, copies=2, available=int(0.1 * GB))  # 2 copies: 60 MB > 50 MB
    assert not two.cached and "x 2 processes" in two.reason and "half of the 0.1 GB available" in two.reason
    unknown = choose_cache(N, SIZE, None, available=None)
    assert unknown.cached and unknown.budget_gb == 2.0 and "unknown" in unknown.reason


def _run(synth_set_3cls, out, **over):
    events = []
    cfg = TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], out=str(out), epochs=2, batch_size=8, input_size=32,
                      val_fraction=0.2, test_fraction=0.2, seed=6)
    assert train(cfg, on_event=events.append, **over)["status"] == "finished"
    rows = [json.loads(x) for x in (out / "small_cnn" / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]
    return torch.load(out / "small_cnn" / "last.pt", weights_only=True)["state_dict"], rows, events


@pytest.mark.slow
def test_streaming_in_workers_trains_exactly_like_the_cache(synth_set_3cls, tmp_path):
    cached_w, cached_rows, cached_ev = _run(synth_set_3cls, tmp_path / "cached")
    stream_w, stream_rows, stream_ev = _run(synth_set_3cls, tmp_path / "stream", cache_gb=0, workers=1)
    first = [e for e in cached_ev if e["event"] == "run_started"][0]["data_loading"]
    assert first["cached"] is True and "kept in memory" in first["reason"] and first["workers"] == 0
    first = [e for e in stream_ev if e["event"] == "run_started"][0]["data_loading"]
    assert first["cached"] is False and first["reason"].startswith("--cache-gb 0") and first["workers"] == 1
    assert stream_rows == cached_rows
    assert all(torch.equal(stream_w[k], cached_w[k]) for k in cached_w)
    r1 = json.loads((tmp_path / "cached" / "small_cnn" / "report.json").read_text())
    r2 = json.loads((tmp_path / "stream" / "small_cnn" / "report.json").read_text())
    assert (r1["accuracy"], r1["loss"], r1["confusion"]) == (r2["accuracy"], r2["loss"], r2["confusion"])
