"""The probe (`gcam-train --probe N`): which images, the file per epoch, the event, and that it
leaves training alone. One real in-process run is the fast representative; the rest are slow."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from trainer_helpers import SMALL, parse_events, run_trainer
from training import TrainConfig, train
from training.events import check_event
from training.probe import ProbeError, choose_indices, epoch_file, read_epoch, read_epochs

EPOCHS = 2


def _cfg(data, out, **over):
    base = dict(data=str(data), archs=["small_cnn"], out=str(out), epochs=EPOCHS, batch_size=8, input_size=32,
                val_fraction=0.2, test_fraction=0.2, seed=5, dup_check=False)
    return TrainConfig(**{**base, **over})


def _val_items(out):
    return [tuple(x) for x in json.loads((out / "split.json").read_text())["val"]]


# ------------------------------------------------------------------------------ the choice

def test_one_per_class_first_then_round_by_round_seeded():
    labels = [0] * 5 + [1] * 2 + [2] * 9 + [3] * 1
    size = Counter(labels)
    for n in range(1, len(labels) + 1):
        picked = choose_indices(labels, n, seed=7)
        assert len(picked) == len(set(picked)) == n
        counts = Counter(labels[i] for i in picked)
        # round by round: no class gets another image while one with images left has fewer
        assert all(counts[c] >= max(counts.values()) - 1 for c in size if counts[c] < size[c]), (n, counts)
        assert picked == sorted(picked, key=lambda i: labels[i])  # shown in label order
        assert choose_indices(labels, n, seed=7) == picked  # seeded: the same images every time
    assert len(Counter(labels[i] for i in choose_indices(labels, 3, seed=7))) == 3  # one per class first
    assert Counter(labels[i] for i in choose_indices(labels, 8, seed=7)) == {0: 3, 1: 2, 2: 2, 3: 1}
    assert sorted(choose_indices(labels, 100, seed=1)) == list(range(len(labels)))  # more than there are: all
    assert choose_indices(labels, 0, seed=1) == []
    # another seed chooses other images of the same classes
    assert len({tuple(choose_indices(labels, 4, seed=s)) for s in range(6)}) > 1


# ------------------------------------------------------------------------------ a real run

@pytest.fixture(scope="module")
def probed_run(synth_set_3cls, tmp_path_factory):
    out = tmp_path_factory.mktemp("probed") / "run"
    events = []
    assert train(_cfg(synth_set_3cls, out), on_event=events.append)["status"] == "finished"
    return out, events


def test_a_run_writes_one_file_per_epoch_and_its_event_carries_the_same_maps(probed_run, synth_set_3cls):
    out, events = probed_run
    arch_dir = out / "small_cnn"
    probes = [e for e in events if e["event"] == "probe"]
    assert [e["epoch"] for e in probes] == list(range(1, EPOCHS + 1))
    for e in events:
        assert check_event(e) == [], (e["event"], check_event(e))
    # the choice: 4 validation images, every class once first, recorded in config.json
    record = json.loads((out / "config.json").read_text())["probe"]
    val = _val_items(out)
    chosen = [(im["path"], im["label"]) for im in record["images"]]
    assert len(chosen) == 4 and all(val[im["index"]] == (im["path"], im["label"]) for im in record["images"])
    assert {y for _, y in chosen} == {0, 1, 2}
    root = synth_set_3cls / "images"
    for e in probes:
        z = read_epoch(e["file"])
        assert e["file"] == str(epoch_file(arch_dir, e["epoch"])) and z.epoch == e["epoch"]
        assert z.paths == e["paths"] == [str(root / p) for p, _ in chosen]
        assert z.labels.tolist() == e["labels"] == [y for _, y in chosen]
        assert z.layer == e["layer"] == "conv2" and z.method == e["method"] == "gradcam"
        # the grid maps: the layer's resolution (small_cnn's conv2 at 32 px: 16 x 16), not the image's
        assert z.maps.shape == (4, 16, 16) and e["grid"] == [16, 16]
        assert np.array_equal(np.asarray(e["maps"], dtype=np.float32), z.maps)
        assert (z.maps >= 0).all() and z.maps.max() > 0
        assert z.probs.shape == (4, 3) and np.allclose(z.probs.sum(1), 1, atol=1e-5)
        assert z.predictions.tolist() == e["predictions"] == z.probs.argmax(1).tolist()
        assert np.allclose(e["confidence"], z.probs.max(1)) and np.allclose(e["label_prob"], z.probs[range(4), z.labels])
        assert z.class_names == ["disc", "square", "triangle"]
        assert e["seconds"] > 0
    # epochs differ: the maps follow the weights
    first, last = read_epochs(arch_dir)[0], read_epochs(arch_dir)[-1]
    assert not np.array_equal(first.maps, last.maps)
    # the maps are what the engine gives for that epoch's weights: last.pt holds the last epoch's
    from gcam_desktop.explain import explain
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.models import load_checkpoint

    model, meta = load_checkpoint(arch_dir / "last.pt")
    x = preprocess_batch([load_image(p) for p in last.paths], meta)
    again = explain(model, x, "gradcam", layer="conv2", targets=last.labels.tolist())
    assert np.allclose(again.raw[:, 0].numpy(), last.maps, rtol=1e-3, atol=1e-5)


def test_a_damaged_probe_file_is_named(tmp_path):
    bad = tmp_path / "epoch-001.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ProbeError) as info:
        read_epoch(bad)
    assert str(bad) in str(info.value)
    np.savez(tmp_path / "other.npz", format=np.array("something else"))
    with pytest.raises(ProbeError, match="not a probe file"):
        read_epoch(tmp_path / "other.npz")


@pytest.mark.slow
def test_probe_0_writes_nothing_and_the_probe_changes_no_weight(probed_run, synth_set_3cls, tmp_path):
    probed, _ = probed_run
    out, events = tmp_path / "run", []
    assert train(_cfg(synth_set_3cls, out, probe=0), on_event=events.append)["status"] == "finished"
    assert not (out / "small_cnn" / "probe").exists() and "probe" not in json.loads((out / "config.json").read_text())
    assert not any(e["event"] == "probe" for e in events)
    # the engine left the model as it found it: the same weights with and without the probe
    a = torch.load(probed / "small_cnn" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(out / "small_cnn" / "last.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_probes_the_recorded_images(synth_set_3cls, tmp_path):
    """Stopped after epoch 1, resumed: the images config.json names (here swapped for others of
    the split, to show the record decides, not a new choice), the same for every epoch after."""
    from training import StopFlag
    from training.stopping import STOP_AFTER_ENV

    out, flag = tmp_path / "run", StopFlag()
    flag.use_test_hooks({STOP_AFTER_ENV: "4"})  # 18 training images, 3 steps per epoch: 1 step into epoch 2
    first = []
    assert train(_cfg(synth_set_3cls, out, epochs=3), stop=flag, on_event=first.append)["status"] == "stopped"
    assert [e["epoch"] for e in first if e["event"] == "probe"] == [1]
    config = json.loads((out / "config.json").read_text())
    val = _val_items(out)
    others = [i for i in range(len(val)) if i not in {im["index"] for im in config["probe"]["images"]}][:2]
    config["probe"]["images"] = [{"index": i, "path": val[i][0], "label": val[i][1]} for i in others]
    (out / "config.json").write_text(json.dumps(config))
    resumed = []
    assert train(resume=out, on_event=resumed.append)["status"] == "finished"
    probes = [e for e in resumed if e["event"] == "probe"]
    assert [e["epoch"] for e in probes] == [2, 3]
    root = synth_set_3cls / "images"
    assert all(e["paths"] == [str(root / val[i][0]) for i in others] for e in probes)
    assert [p.epoch for p in read_epochs(out / "small_cnn")] == [1, 2, 3]


@pytest.mark.slow
def test_the_command_line_takes_probe_and_keep_every(synth_set_3cls, tmp_path):
    out = tmp_path / "run"
    r = run_trainer("--data", str(synth_set_3cls), "--arch", "small_cnn", "--epochs", "2", *SMALL, "--probe", "2",
                    "--keep-every", "2", "--no-dup-check", "--out", str(out), data_dir=tmp_path / "ud")
    assert r.returncode == 0, r.stderr
    events = parse_events(r.stdout)
    probes = [e for e in events if e["event"] == "probe"]
    assert [len(e["paths"]) for e in probes] == [2, 2] and all(check_event(e) == [] for e in probes)
    assert len({y for y in probes[0]["labels"]}) == 2  # two images: two classes
    kept = [e["path"] for e in events if e["event"] == "checkpoint" and "/epochs/" in e["path"]]
    assert kept == [str(out / "small_cnn" / "epochs" / "epoch-002.pt")]
    from gcam_desktop.models import read_checkpoint

    _, meta, _ = read_checkpoint(kept[0])
    assert meta["epoch"] == 2
    bad = run_trainer("--data", str(synth_set_3cls), "--probe", "-1", data_dir=tmp_path / "ud")
    assert bad.returncode == 2 and "--probe" in bad.stderr
