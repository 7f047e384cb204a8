"""--resume refuses, in one line naming the file and the field, a run it cannot continue: a
damaged config.json (tests/corpus/runs.py), or a lost last.pt after epochs were recorded
(which used to start the arch again and overwrite best.pt without a word)."""

from __future__ import annotations

import shutil

import pytest

from corpus.runs import DAMAGED_CONFIGS, with_damaged_config, without_last_checkpoint
from trainer_helpers import parse_events, run_trainer
from training import RunError, StopFlag, TrainConfig, train
from training.config import ADDED_LATER
from training.metrics import read_history
from training.stopping import STOP_AFTER_ENV


@pytest.fixture(scope="module")
def stopped_run(synth_set_3cls, tmp_path_factory):
    """small_cnn stopped by the test hook after 7 steps: 2 epochs recorded, 1 step into the 3rd."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    cfg = TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], out=str(out), epochs=3, batch_size=8, input_size=32,
                      val_fraction=0.2, test_fraction=0.2, dup_check=False)
    flag, events = StopFlag(), []
    flag.use_test_hooks({STOP_AFTER_ENV: "7"})  # 18 training images: 3 steps per epoch
    assert train(cfg, stop=flag, on_event=events.append)["status"] == "stopped"
    stopped = events[-1]
    assert (stopped["event"], stopped["epoch"], stopped["step"]) == ("stopped", 2, 1)
    assert flag.reason == f"{STOP_AFTER_ENV}=7"
    return out


@pytest.mark.parametrize("case", DAMAGED_CONFIGS, ids=[c.name for c in DAMAGED_CONFIGS])
def test_a_damaged_config_is_refused_naming_the_file_and_the_field(stopped_run, tmp_path, case):
    run = with_damaged_config(stopped_run, tmp_path / "run", case)
    with pytest.raises(RunError) as info:
        train(resume=run)
    message = str(info.value)
    assert message.startswith(f"{run / 'config.json'}: ") and case.expect in message, message
    assert "\n" not in message


@pytest.mark.slow
def test_the_command_line_refuses_it_in_one_line_without_a_traceback(stopped_run, tmp_path):
    case = next(c for c in DAMAGED_CONFIGS if c.name == "archs-a-number")
    run = with_damaged_config(stopped_run, tmp_path / "run", case)
    r = run_trainer("--resume", str(run), data_dir=tmp_path / "ud", timeout=300)
    assert r.returncode == 2, r.stderr
    [event] = parse_events(r.stdout)
    assert event["event"] == "error" and str(run / "config.json") in event["message"] and "'archs'" in event["message"]
    assert "Traceback" not in r.stderr


def test_a_run_saved_before_the_later_fields_existed_still_resumes():
    saved = {k: v for k, v in TrainConfig().to_json().items() if k not in ADDED_LATER}
    assert TrainConfig.from_saved(saved) == TrainConfig()


def test_a_lost_last_pt_after_recorded_epochs_is_refused_and_best_pt_kept(stopped_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    best = (run / "small_cnn" / "best.pt").read_bytes()
    last = without_last_checkpoint(run, "small_cnn")
    events = []
    with pytest.raises(RunError) as info:
        train(resume=run, on_event=events.append)
    message = str(info.value)
    assert message.startswith(f"{last}: missing") and "metrics.jsonl records 2 epochs" in message
    assert events == [] and not last.exists()
    assert (run / "small_cnn" / "best.pt").read_bytes() == best
    assert [h["epoch"] for h in read_history(run / "small_cnn" / "metrics.jsonl")] == [1, 2]
