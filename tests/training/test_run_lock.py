"""One gcam-train run at a time in a run folder, and no more processes than devices.

Two runs started together into one --out both passed the "already holds a run" check (2 tries
in 5) and interleaved their metrics under one config.json. The run now holds the folder from
before that check to its end. Deterministic: the first run is held at a known step by the test
hook (training/stopping.py) while the others are tried, then stopped by a "stop" line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gcam_desktop.distributed import launch, process_slots, too_many_processes
from gcam_desktop.run_folder import FolderBusy, RunFolder
from trainer_helpers import ROOT, SMALL, child_env, parse_events, run_trainer, trainer_cmd, wait_for_hold
from training.metrics import read_history
from training.run_claim import HELD_ENV, held_by_launcher
from training.stopping import HOLD_AFTER_ENV

ARGS = ["--arch", "small_cnn", "--epochs", "2", "--no-dup-check", *SMALL]

pytestmark = pytest.mark.slow  # two real processes in every test (the full tier)


def _start_held(data, out, user_dir, hold_after: int):
    """A trainer that holds after `hold_after` steps until "stop" arrives; its events up to run_started."""
    env = {**child_env(user_dir), HOLD_AFTER_ENV: str(hold_after)}
    proc = subprocess.Popen(trainer_cmd("--data", str(data), "--out", str(out), *ARGS, "--stop-on-stdin"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] in ("run_started", "error"):
            break
    assert events and events[-1]["event"] == "run_started", (events, proc.stderr.read() if proc.poll() else "")
    return proc


def _refused_as_busy(r, holder_pid: int) -> str:
    assert r.returncode == 2, r.stderr
    [event] = parse_events(r.stdout)
    message = event["message"]
    assert event["event"] == "error" and "another run is writing there" in message, message
    assert f"process {holder_pid}," in message and "\n" not in message
    assert "Traceback" not in r.stderr and "checking" not in r.stderr  # refused before any image was read
    return message


def test_a_second_run_and_a_resume_are_refused_while_a_run_holds_the_folder(synth_set_3cls, tmp_path):
    out = tmp_path / "run"
    first = _start_held(synth_set_3cls, out, tmp_path / "ud", hold_after=4)  # held 1 step into epoch 2
    try:
        config = (out / "config.json").read_text()
        second = run_trainer("--data", str(synth_set_3cls), "--out", str(out), *ARGS, data_dir=tmp_path / "ud")
        resumed = run_trainer("--resume", str(out), data_dir=tmp_path / "ud")
        wait_for_hold(first)
    finally:
        rest, err = first.communicate("stop\n", timeout=300)
    assert first.returncode == 0, err
    _refused_as_busy(second, first.pid)
    _refused_as_busy(resumed, first.pid)
    stopped = parse_events(rest)[-1]
    assert (stopped["event"], stopped["epoch"], stopped["step"]) == ("stopped", 1, 1)
    assert (out / "config.json").read_text() == config  # one run's config, one run's metrics
    assert [h["epoch"] for h in read_history(out / "small_cnn" / "metrics.jsonl")] == [1]
    with RunFolder(out, "test") as free:  # released when the run ended
        assert free.held


HOLDER = textwrap.dedent("""
    import sys
    from gcam_desktop.run_folder import RunFolder
    with RunFolder(sys.argv[1], "gcam-train"):
        print("held", flush=True)
        sys.stdin.readline()
""")


@pytest.fixture
def claimed_folder(tmp_path):
    """A folder held by another process that has not written config.json yet: the window in
    which two runs started together both passed the old check."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=child_env(tmp_path / "ud"), cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    yield out, proc.pid
    proc.communicate("\n", timeout=60)


def test_a_run_is_refused_in_a_folder_another_is_starting_in(synth_set_3cls, tmp_path, claimed_folder):
    out, pid = claimed_folder
    r = run_trainer("--data", str(synth_set_3cls), "--out", str(out), *ARGS, data_dir=tmp_path / "ud")
    _refused_as_busy(r, pid)
    assert out.is_dir() and not (out / "config.json").exists()  # the other run's folder is left alone


def test_the_launcher_refuses_once_before_any_process_starts(synth_set_3cls, tmp_path, claimed_folder):
    out, pid = claimed_folder
    n, _ = process_slots("cpu")
    # --allow-oversubscribe: past the device check whatever this machine's cores, to the folder's.
    r = run_trainer("--nproc-per-node", str(n + 1), "--allow-oversubscribe", "--device", "cpu", "--data",
                    str(synth_set_3cls), "--out", str(out), *ARGS, "--batch-size", str(2 * (n + 1)), data_dir=tmp_path / "ud")
    _refused_as_busy(r, pid)
    assert "[rank" not in r.stderr and "starting" not in r.stderr


def test_more_processes_than_cpu_cores_are_refused_naming_the_flag(synth_set_3cls, tmp_path):
    n, what = process_slots("cpu")
    out = tmp_path / "run"
    r = run_trainer("--nproc-per-node", str(n + 1), "--device", "cpu", "--data", str(synth_set_3cls), "--out", str(out),
                    *ARGS, data_dir=tmp_path / "ud")
    assert r.returncode == 2
    [event] = parse_events(r.stdout)
    assert event["event"] == "error" and f"--nproc-per-node {n + 1}" in event["message"]
    assert f"the {n} {what} here" in event["message"] and "--allow-oversubscribe" in event["message"]
    assert "[rank" not in r.stderr and not out.exists()


def test_the_shared_launcher_refuses_for_every_front_end(capsys):
    n, what = process_slots("cpu")
    assert too_many_processes(n, "cpu") is None
    assert too_many_processes(n + 1, "mps") is None  # refused by the processes themselves
    # gcam-explain's call: no error writer, so one line on stderr, status 2, nothing started
    assert launch([sys.executable, "-c", "raise SystemExit(7)"], n + 1, device="cpu") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-oversubscribe" in err and f"{n} {what}" in err


def test_rank_0_trusts_only_its_own_launchers_hold(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    monkeypatch.setenv(HELD_ENV, f"{os.getppid()} {folder.resolve()}")
    assert held_by_launcher(folder)
    assert not held_by_launcher(tmp_path / "other")
    monkeypatch.setenv(HELD_ENV, f"{os.getpid()} {folder.resolve()}")  # not this process's parent
    assert not held_by_launcher(folder)
    monkeypatch.setenv(HELD_ENV, "nonsense")
    assert not held_by_launcher(folder)


def test_a_refused_new_run_leaves_no_folder_behind(tmp_path):
    from training import DataError, TrainConfig, train

    empty = tmp_path / "data"
    empty.mkdir()
    with pytest.raises(DataError):
        train(TrainConfig(data=str(empty), archs=["small_cnn"], out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
    with pytest.raises(FolderBusy):  # and a folder held by this process cannot be taken twice
        with RunFolder(tmp_path / "busy", "test"):
            train(TrainConfig(data=str(empty), archs=["small_cnn"], out=str(tmp_path / "busy")))
