"""Stop and resume: a stopped run, resumed, ends with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import signal
import subprocess
from contextlib import contextmanager

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from trainer_helpers import ROOT, SMALL, child_env, parse_events, run_trainer, trainer_cmd, wait_for_hold
from training import StopFlag, TrainConfig, train
from training.stopping import HOLD_AFTER_ENV, STOP_AFTER_ENV

EPOCHS = 4  # the stop tests hold the child at a known step (HOLD_AT), so the count races with nothing
ARGS = ["--arch", "small_cnn", "--epochs", str(EPOCHS), "--scheduler", "onecycle", "--seed", "2", *SMALL]


def _cfg(data, out, epochs=EPOCHS):
    return TrainConfig(data=str(data), archs=["small_cnn"], out=str(out), epochs=epochs, batch_size=8,
                       input_size=32, scheduler="onecycle", seed=2, val_fraction=0.2, test_fraction=0.2)


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _metrics(run_dir):
    rows = [json.loads(x) for x in (run_dir / "small_cnn" / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]


@pytest.fixture(scope="module")
def reference(synth_set_3cls, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert train(_cfg(synth_set_3cls, out))["status"] == "finished"
    return out


@contextmanager
def stop_after_steps(n: int, flag: StopFlag):
    """Set `flag` right after the n-th optimizer step of any optimizer: a precise trigger."""
    count = [0]

    def hook(optimizer, args, kwargs):
        count[0] += 1
        if count[0] == n:
            flag.set("test")

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield
    finally:
        handle.remove()


# 18 training images in batches of 8 make 3 steps per epoch (8 + 8 + 2).
@pytest.mark.parametrize("steps, position, epochs_before",
                         [(4, (1, 1), [1]), pytest.param(3, (0, 3), [], marks=pytest.mark.slow)],
                         ids=["mid-epoch", "during-validation"])
def test_stop_and_resume_in_process_is_exact(synth_set_3cls, tmp_path, steps, position, epochs_before):
    ref_out = tmp_path / "ref"
    ref = train(_cfg(synth_set_3cls, ref_out, epochs=3))
    out = tmp_path / "run"
    events, flag = [], StopFlag()
    with stop_after_steps(steps, flag):
        stopped = train(_cfg(synth_set_3cls, out, epochs=3), on_event=events.append, stop=flag)
    assert stopped["status"] == "stopped"
    ev = next(e for e in events if e["event"] == "stopped")
    assert (ev["epoch"], ev["step"]) == position
    assert [e["epoch"] for e in events if e["event"] == "epoch_end"] == epochs_before
    resumed_events = []
    done = train(resume=out, on_event=resumed_events.append)
    assert done["status"] == "finished"
    started = next(e for e in resumed_events if e["event"] == "run_started")
    assert started["start_epoch"] == position[0]
    assert [e["epoch"] for e in resumed_events if e["event"] == "epoch_end"] == list(range(position[0] + 1, 4))
    assert _same_weights(ref_out / "small_cnn" / "last.pt", out / "small_cnn" / "last.pt")
    assert _same_weights(ref_out / "small_cnn" / "best.pt", out / "small_cnn" / "best.pt")
    assert _metrics(ref_out) == _metrics(out)  # losses of the split epoch included
    assert done["results"]["small_cnn"]["accuracy"] == ref["results"]["small_cnn"]["accuracy"]


HOLD_AT = 4  # 3 steps per epoch: held 1 step into epoch 2, where every stop test's stop lands


def _start(synth_set_3cls, out, data_dir, *extra, hold: int = HOLD_AT):
    env = child_env(data_dir)
    env[HOLD_AFTER_ENV] = str(hold)  # the test hook: the trainer waits there for the test's signal or stop line
    return subprocess.Popen(trainer_cmd("--data", str(synth_set_3cls), "--out", str(out), *ARGS, *extra),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def _read_until(proc, predicate):
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if predicate(events[-1]):
            break
    return events


def _check_stopped_at_the_hold(events, out):
    assert events[-1]["event"] == "stopped", [e["event"] for e in events]
    stop = events[-1]
    assert (stop["epoch"], stop["step"]) == divmod(HOLD_AT, 3)
    assert stop["path"] == str(out / "small_cnn" / "last.pt")
    assert [e["epoch"] for e in events if e["event"] == "epoch_end"] == [1]
    return stop


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_resume_matches(synth_set_3cls, tmp_path, reference):
    """A real SIGTERM, sent once the trainer holds at a known step (not raced against epochs)."""
    out = tmp_path / "run"
    proc = _start(synth_set_3cls, out, tmp_path / "ud")
    wait_for_hold(proc)
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    stop = _check_stopped_at_the_hold(parse_events(rest), out)
    assert "stop requested (SIGTERM)" in err

    from gcam_desktop.models import load_checkpoint, load_training_state

    _, meta = load_checkpoint(stop["path"])
    state = load_training_state(stop["path"])
    assert (state["epochs_done"], state["step"]) == (stop["epoch"], stop["step"]) and meta["epoch"] == stop["epoch"]
    assert train(resume=out)["status"] == "finished"
    assert _same_weights(reference / "small_cnn" / "last.pt", out / "small_cnn" / "last.pt")
    assert _metrics(reference) == _metrics(out)


@pytest.mark.slow
def test_stop_line_on_stdin_and_cli_resume(synth_set_3cls, tmp_path, reference):
    out = tmp_path / "run"
    proc = _start(synth_set_3cls, out, tmp_path / "ud", "--stop-on-stdin")
    wait_for_hold(proc)
    rest, err = proc.communicate("stop\n", timeout=120)
    assert proc.returncode == 0, err
    stop = _check_stopped_at_the_hold(parse_events(rest), out)
    assert "stop requested (stdin)" in err
    r = run_trainer("--resume", str(out), data_dir=tmp_path / "ud", timeout=300)
    assert r.returncode == 0, r.stderr
    resumed = parse_events(r.stdout)
    assert resumed[0]["event"] == "run_started" and resumed[0]["start_epoch"] == stop["epoch"]
    assert [e["event"] for e in resumed][-2:] == ["finished", "all_finished"]
    assert _same_weights(reference / "small_cnn" / "last.pt", out / "small_cnn" / "last.pt")


@pytest.mark.slow
def test_the_stop_hook_stops_like_sigterm(synth_set_3cls, tmp_path):
    """GCAM_TRAIN_STOP_AFTER_STEPS=N: the stop a signal asks for, after exactly N steps."""
    out = tmp_path / "run"
    env = {**child_env(tmp_path / "ud"), STOP_AFTER_ENV: str(HOLD_AT)}
    r = subprocess.run(trainer_cmd("--data", str(synth_set_3cls), "--out", str(out), *ARGS), capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    _check_stopped_at_the_hold(parse_events(r.stdout), out)
    assert f"stop requested ({STOP_AFTER_ENV}={HOLD_AT})" in r.stderr
    bad = subprocess.run(trainer_cmd("--data", str(synth_set_3cls), "--out", str(tmp_path / "bad"), *ARGS),
                         capture_output=True, text=True, env={**env, STOP_AFTER_ENV: "soon"}, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and STOP_AFTER_ENV in parse_events(bad.stdout)[0]["message"]


@pytest.mark.slow
def test_sigkill_loses_at_most_an_epoch_and_leaves_no_corrupt_checkpoint(synth_set_3cls, tmp_path, reference):
    from gcam_desktop.models import load_checkpoint, load_training_state

    out = tmp_path / "run"
    proc = _start(synth_set_3cls, out, tmp_path / "ud", hold=7)  # still training when killed: held in epoch 3
    events = _read_until(proc, lambda e: e["event"] == "checkpoint" and not e["is_best"] and e["epoch"] >= 2)
    proc.kill()
    proc.communicate(timeout=60)
    last = out / "small_cnn" / "last.pt"
    _, meta = load_checkpoint(last)  # whole, whatever moment the kill hit
    state = load_training_state(last)
    reported = max(e["epoch"] for e in events if e["event"] == "epoch_end")
    # last.pt holds a whole epoch boundary, at most one epoch behind what was reported.
    assert state["step"] == 0 and state["epochs_done"] >= reported - 1 and meta["epoch"] == state["epochs_done"]
    assert train(resume=out)["status"] == "finished"
    assert _same_weights(reference / "small_cnn" / "last.pt", last)
    assert _metrics(reference) == _metrics(out)


@pytest.mark.slow
def test_resume_takes_no_recipe_options_and_out_refuses_a_used_folder(synth_set_3cls, tmp_path, reference):
    r = run_trainer("--resume", str(reference), "--epochs", "5", data_dir=tmp_path, timeout=120)
    assert r.returncode == 2 and "--epochs" in parse_events(r.stdout)[0]["message"]
    from training.run import RunError

    with pytest.raises(RunError, match="already holds a training run"):
        train(_cfg(synth_set_3cls, reference))


def test_resuming_a_finished_run_trains_nothing(reference):
    events = []
    result = train(resume=reference, on_event=events.append)
    assert result["status"] == "finished"
    assert [e["event"] for e in events] == ["finished", "all_finished"]
