"""--shuffle-labels (Adebayo et al. 2018's data randomisation test): a seeded permutation of the
training labels only, recorded in config.json, the checkpoints and the report, kept on resume.

Whether a model fits the shuffled labels while validation stays at chance is not asserted here:
on a loaded 2-core CPU small_cnn needs 15+ epochs of the tiny set to fit them, too slow and too
close to the edge for a test. bench/shuffle_labels.py measures it; the README quotes it.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from gcam_desktop.models import read_checkpoint
from training import StopFlag, TrainConfig, train
from training.cli import _config_from, train_parser
from training.data import DatasetSplit, shuffle_train_labels, shuffled_labels, stratified_split
from training.events import check_event
from training.loop import SHUFFLED_NOTE, shuffle_report

EPOCHS = 2


def _cfg(data, out=None, **kw):
    base = dict(data=str(data), archs=["small_cnn"], out=str(out) if out else None, epochs=EPOCHS, batch_size=8,
                input_size=32, seed=7, val_fraction=0.2, test_fraction=0.2, dup_check=False, shuffle_labels=True)
    return TrainConfig(**{**base, **kw})


# ------------------------------------------------------------------------------ the permutation

def test_permutation_is_seeded_deterministic_and_keeps_class_counts():
    labels = [y for y in range(4) for _ in range(25)]
    before_py, before_torch = random.getstate(), torch.random.get_rng_state()
    a, b = shuffled_labels(labels, 3), shuffled_labels(labels, 3)
    assert a == b                                     # same seed, same permutation
    assert shuffled_labels(labels, 4) != a            # another seed, another one
    assert sorted(a) == sorted(labels) and a != labels  # a permutation: class counts kept
    # Its own stream: neither Python's nor torch's global generator moved (the split and the
    # epochs' order and flips, and the model's initial weights, stay as without the option).
    assert random.getstate() == before_py and torch.equal(torch.random.get_rng_state(), before_torch)
    # Pinned: the same permutation on every machine and Python run (str seeds hash with SHA-512).
    expected = list(range(6))
    random.Random("gcam-labels:0").shuffle(expected)
    assert shuffled_labels(list(range(6)), 0) == expected


def test_only_the_training_labels_change_and_the_change_is_counted():
    labels = [y for y in range(3) for _ in range(10)]
    idx = stratified_split(labels, 0.2, 0.2, seed=7)
    parts = {s: [(f"c{labels[i]}/{i}.png", labels[i]) for i in idx[s]] for s in ("train", "val", "test")}
    split = DatasetSplit("/data", "imagefolder", ["a", "b", "c"], **parts, seed=7)
    items, record = shuffle_train_labels(split, 7)
    assert [p for p, _ in items] == [p for p, _ in split.train]          # same images, same order
    assert [y for _, y in items] == shuffled_labels([y for _, y in split.train], 7)
    assert split.val == parts["val"] and split.test == parts["test"]   # untouched (and split.json's)
    changed = sum(y != t for (_, y), (_, t) in zip(items, split.train))
    assert 0 < changed <= len(items)
    assert record == {"seed": 7, "stream": "gcam-labels:7", "changed": changed, "train_images": len(items)}


def test_prepare_gives_the_loader_shuffled_training_labels_and_the_same_split(synth_set_3cls):
    from training.batches import EpochPlan, make_loader
    from training.run import prepare

    plain_split, plain, _ = prepare(_cfg(synth_set_3cls, shuffle_labels=False))
    split, data, _ = prepare(_cfg(synth_set_3cls))
    assert split.to_json() == plain_split.to_json()         # the split does not depend on the option
    assert plain.label_shuffle is None and data.label_shuffle["changed"] > 0
    true = [y for _, y in split.train]
    expected = shuffled_labels(true, 7)
    assert data.sets["train"].labels.tolist() == expected != true
    for s in ("val", "test"):                               # true labels: validation measures chance
        assert data.sets[s].labels.tolist() == [y for _, y in split.items(s)]
    # What the training loader yields, batch by batch, is the shuffled labels of the plan's images.
    plan = EpochPlan(len(data.sets["train"]), 8, 7, shuffle=True, hflip=True)
    loader, sampler = make_loader(data.sets["train"], plan, 0, torch.device("cpu"))
    sampler.set_epoch(0)
    for (_, y), batch in zip(loader, plan.batches(0)):
        assert y.tolist() == [expected[i] for i, _ in batch]


def test_the_cli_option_sets_the_config_and_resume_refuses_it():
    from gcam_desktop.cli.usage import UsageError
    from training.cli import _check_train_args

    args = train_parser().parse_args(["--data", "d", "--shuffle-labels"])
    assert _config_from(args).shuffle_labels is True
    assert _config_from(train_parser().parse_args(["--data", "d"])).shuffle_labels is False
    resume = train_parser().parse_args(["--resume", "r", "--shuffle-labels"])
    with pytest.raises(UsageError, match="--shuffle-labels"):
        _check_train_args(resume)   # the saved config decides; the option cannot be added or dropped


def test_a_config_saved_before_the_option_resumes_without_it():
    saved = TrainConfig(data="d").to_json()
    del saved["shuffle_labels"]
    assert TrainConfig.from_saved(saved).shuffle_labels is False


# ------------------------------------------------------------------------------ the report's words

def test_the_report_says_chance_is_expected_and_whether_the_labels_were_fitted():
    assert shuffle_report(None, 3, "test", 0.9, 0.95) == {"shuffled_labels": None, "note": None}
    record = {"seed": 1, "stream": "gcam-labels:1", "changed": 16, "train_images": 18}
    fitted = shuffle_report(record, 4, "test", 0.25, 0.97)
    assert fitted["note"].startswith(SHUFFLED_NOTE) and "train longer" not in fitted["note"]
    assert fitted["shuffled_labels"]["chance"] == 0.25 and fitted["shuffled_labels"]["fitted"] is True
    assert "last epoch" in fitted["shuffled_labels"]["best"]
    unfitted = shuffle_report(record, 4, "val", 0.3, 0.5)
    assert unfitted["note"].startswith(SHUFFLED_NOTE) and "train longer" in unfitted["note"]
    assert unfitted["shuffled_labels"]["fitted"] is False


# ------------------------------------------------------------------------------ a tiny run

@pytest.fixture(scope="module")
def shuffled_run(synth_set_3cls, tmp_path_factory):
    out = tmp_path_factory.mktemp("shuffled") / "run"
    events = []
    result = train(_cfg(synth_set_3cls, out), on_event=events.append)
    assert result["status"] == "finished"
    return out, events


def test_a_run_records_the_shuffle_in_config_checkpoints_report_and_events(shuffled_run):
    out, events = shuffled_run
    for e in events:
        assert check_event(e) == [], e
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["shuffle_labels"] is True
    record = config["shuffled_labels"]
    assert record["seed"] == 7 and record["stream"] == "gcam-labels:7" and 0 < record["changed"] <= 18
    assert record["train_images"] == 18
    # split.json keeps the true labels: the permutation is derived from the seed, also on resume.
    split = DatasetSplit.load(out / "split.json")
    for name in ("best.pt", "last.pt"):
        _, meta, _ = read_checkpoint(out / "small_cnn" / name)
        assert meta["recipe"]["shuffled_labels"] is True
        assert meta["recipe"]["label_shuffle"] == record
    report = json.loads((out / "small_cnn" / "report.json").read_text())
    assert report["note"].startswith(SHUFFLED_NOTE)
    assert {k: report["shuffled_labels"][k] for k in record} == record
    assert report["shuffled_labels"]["train_accuracy"] == report["train_accuracy_eval"]
    finished = next(e for e in events if e["event"] == "finished")
    assert finished["shuffled_labels"] is True and finished["note"] == report["note"]
    # best.pt is the last epoch: validation accuracy, at chance by design, does not choose it.
    assert finished["best_epoch"] == EPOCHS == report["best_epoch"]
    best = [e["epoch"] for e in events if e["event"] == "checkpoint" and e["is_best"]]
    assert best == list(range(1, EPOCHS + 1))
    assert len(split.train) == 18


def test_the_finished_line_says_so_in_words(synth_set_3cls, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="training"):
        train(_cfg(synth_set_3cls, tmp_path / "r", epochs=1))
    assert f"small_cnn: {SHUFFLED_NOTE}" in caplog.text


def test_resume_keeps_the_shuffled_labels(synth_set_3cls, shuffled_run, tmp_path):
    """Stopped mid-run and resumed, the run ends with the uninterrupted run's weights: the same
    permutation was used on both sides of the stop."""
    ref_out, _ = shuffled_run
    out, flag, count = tmp_path / "run", StopFlag(), [0]

    def hook(optimizer, args, kwargs):
        count[0] += 1
        if count[0] == 4:  # 3 steps per epoch (8 + 8 + 2): inside epoch 2
            flag.set("test")

    handle = register_optimizer_step_post_hook(hook)
    try:
        assert train(_cfg(synth_set_3cls, out), stop=flag)["status"] == "stopped"
    finally:
        handle.remove()
    events = []
    assert train(resume=out, on_event=events.append)["status"] == "finished"
    assert next(e for e in events if e["event"] == "run_started")["config"]["shuffle_labels"] is True
    assert next(e for e in events if e["event"] == "finished")["shuffled_labels"] is True
    mine = torch.load(out / "small_cnn" / "last.pt", weights_only=True)["state_dict"]
    ref = torch.load(ref_out / "small_cnn" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(mine[k], ref[k]) for k in ref)


def test_a_finished_run_replayed_from_an_older_report_has_no_note(tmp_path):
    from training.run import _replay_finished

    events = []

    def emit(name, **fields):
        from training.events import make_event

        events.append(make_event(name, **fields))

    _replay_finished(emit, "small_cnn", tmp_path, {"split": "test", "accuracy": 0.5, "best_epoch": 2})
    assert check_event(events[0]) == []
    assert events[0]["shuffled_labels"] is False and events[0]["note"] is None
