"""End to end: the trainer as a child process on a tiny synthetic set, small_cnn and a ResNet."""

from __future__ import annotations

import json

import pytest
import torch

from trainer_helpers import SMALL, parse_events, run_trainer
from training.events import check_event


@pytest.fixture(scope="module")
def run(synth_set_3cls, tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    out = base / "run"
    result = run_trainer("--data", str(synth_set_3cls), "--arch", "small_cnn", "resnet50", "--epochs", "2",
                         "--out", str(out), *SMALL, "--seed", "5", data_dir=base / "user-data", timeout=600)
    assert result.returncode == 0, result.stderr
    return out, parse_events(result.stdout), result.stderr


def test_every_stdout_line_is_a_documented_event(run):
    _, events, _ = run
    assert events
    for e in events:
        assert check_event(e) == [], e


def test_event_sequence(run):
    _, events, _ = run
    names = [(e["event"], e.get("arch")) for e in events]
    for arch in ("small_cnn", "resnet50"):
        mine = [n for n, a in names if a == arch]
        assert mine[0] == "run_started" and mine[-1] == "finished"
        assert mine.count("epoch_end") == 2
        assert mine.count("checkpoint") >= 3  # last.pt per epoch, best.pt at least once
        assert mine.count("probe") == 2  # --probe's default: after every epoch
    # the probe explains the layer the checkpoints name as default (resnet50 at 32 px: layer1)
    from gcam_desktop.models import default_layer_for

    assert {(e["arch"], e["layer"]) for e in events if e["event"] == "probe"} == {
        ("small_cnn", "conv2"), ("resnet50", default_layer_for("resnet50", 32))}
    assert names[-1] == ("all_finished", None)
    started = [e for e in events if e["event"] == "run_started"]
    assert [s["arch"] for s in started] == ["small_cnn", "resnet50"]
    assert started[0]["class_names"] == ["disc", "square", "triangle"]
    assert started[0]["sizes"] == {"train": 18, "val": 6, "test": 6}
    assert started[0]["skipped"] == 0 and started[0]["device"] == "cpu"
    ends = [e for e in events if e["event"] == "epoch_end" and e["arch"] == "small_cnn"]
    assert [e["epoch"] for e in ends] == [1, 2]
    for e in ends:
        assert 0 <= e["train_acc"] <= 1 and 0 <= e["val_acc"] <= 1 and e["train_loss"] > 0
        assert e["seconds"] > 0 and e["images_per_s"] > 0


def test_human_progress_goes_to_stderr(run):
    _, _, stderr = run
    assert "small_cnn epoch 1/2" in stderr and "resnet50 epoch 2/2" in stderr


def test_run_folder_files(run):
    out, events, _ = run
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["archs"] == ["small_cnn", "resnet50"] and config["config"]["epochs"] == 2
    split = json.loads((out / "split.json").read_text())
    assert split["sizes"] == {"train": 18, "val": 6, "test": 6}
    for arch in ("small_cnn", "resnet50"):
        d = out / arch
        assert {p.name for p in d.iterdir()} == {"metrics.jsonl", "last.pt", "best.pt", "report.json", "probe"}
        assert sorted(p.name for p in (d / "probe").iterdir()) == ["epoch-001.npz", "epoch-002.npz"]
        rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [1, 2]
        report = json.loads((d / "report.json").read_text())
        assert report["split"] == "test" and report["n"] == 6
        assert 0 <= report["accuracy"] <= 1
        assert set(report["per_class"]) == {"disc", "square", "triangle"}
        for stats in report["per_class"].values():
            assert set(stats) >= {"precision", "recall", "support"} and stats["support"] == 2
        cm = report["confusion"]
        assert len(cm) == 3 and sum(map(sum, cm)) == 6
        assert report["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(3)) / 6)
        assert report["params"] > 0 and report["seconds_per_epoch"] > 0
        finished = next(e for e in events if e["event"] == "finished" and e["arch"] == arch)
        assert finished["report"] == str(d / "report.json") and finished["accuracy"] == report["accuracy"]
    assert not list(out.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_checkpoints_load_through_the_models_package(run):
    from gcam_desktop.models import load_checkpoint, load_training_state

    out, events, _ = run
    for arch in ("small_cnn", "resnet50"):
        model, meta = load_checkpoint(out / arch / "best.pt", expect_arch=arch, expect_num_classes=3)
        assert meta["class_names"] == ["disc", "square", "triangle"] and meta["input_size"] == 32
        assert meta["recipe"]["optimizer"] == "adam" and meta["recipe"]["batch_size"] == 8
        assert "val_acc" in meta["metrics"]
        best = next(e for e in events if e["event"] == "finished" and e["arch"] == arch)
        assert meta["epoch"] == best["best_epoch"]
        with torch.no_grad():
            assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
        _, last_meta = load_checkpoint(out / arch / "last.pt")
        assert last_meta["epoch"] == 2
        state = load_training_state(out / arch / "last.pt")
        assert state["epochs_done"] == 2 and state["step"] == 0
        assert {"optimizer", "rng", "scheduler", "scaler"} <= set(state)
