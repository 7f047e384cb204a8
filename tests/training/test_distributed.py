"""Two training processes on the CPU (gloo), started by `gcam-train --nproc-per-node 2`, i.e.
through torch.distributed.run as torchrun would: the same figures, files and events as one
process, SyncBatchNorm equivalence, and stop / resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest
import torch

from gcam_desktop.run_folder import FolderBusy, RunFolder
from gcam_desktop.similarity.hash_model import RANDOM_SPEC
from trainer_helpers import ROOT, child_env, parse_events, run_trainer, trainer_cmd, wait_for_hold
from training import TrainConfig, train
from training.batches import EpochPlan, PlanSampler
from training.events import check_event
from training.stopping import HOLD_AFTER_ENV

# 18 training images; a global batch of 6 is 3 per process and 3 steps per epoch in both cases.
BASE = ["--input-size", "32", "--batch-size", "6", "--val-fraction", "0.2", "--test-fraction", "0.2", "--seed", "4"]
EPOCHS = 4
HOLD_AT = 4  # the stop tests hold every process 1 step into epoch 2 (test hook) until their stop arrives


def _cfg(data, out, **kw):
    base = dict(data=str(data), archs=["small_cnn"], out=str(out), epochs=EPOCHS, batch_size=6, input_size=32,
                val_fraction=0.2, test_fraction=0.2, seed=4)
    return TrainConfig(**{**base, **kw})


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _start_held(args: list[str], data_dir, **popen) -> subprocess.Popen:
    """gcam-train with the hold hook, once rank 0 says it holds: a stop sent now lands at HOLD_AT."""
    env = {**child_env(data_dir), HOLD_AFTER_ENV: str(HOLD_AT)}
    proc = subprocess.Popen(trainer_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, **popen)
    wait_for_hold(proc)
    return proc


def _metrics(run_dir, arch="small_cnn"):
    return [json.loads(x) for x in (run_dir / arch / "metrics.jsonl").read_text().splitlines()]


def test_each_process_trains_its_slice_of_the_same_batches():
    one = EpochPlan(20, 8, seed=1, hflip=True)
    two = EpochPlan(20, 8, seed=1, hflip=True, world=2)
    assert one.steps() == two.steps() == 3  # 8 + 8 + 4: the last batch has two per process
    assert EpochPlan(18, 8, 1, world=2).steps() == 2  # 8 + 10: a last batch of 2 cannot feed two processes
    samplers = [PlanSampler(two, r) for r in (0, 1)]
    for s in samplers:
        s.set_epoch(3, 1)
    together = [a + b for a, b in zip(*(list(s) for s in samplers))]
    assert together == one.batches(3)[1:]
    assert [len(b) for b in PlanSampler(two, 1)] == [4, 4, 2]


@pytest.fixture(scope="module")
def two_rank_run(synth_set_3cls, tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    out = base / "run"
    r = run_trainer("--nproc-per-node", "2", "--data", str(synth_set_3cls), "--arch", "small_cnn", "--epochs", str(EPOCHS),
                    "--out", str(out), *BASE, "--hash-model", RANDOM_SPEC, data_dir=base / "ud", timeout=600)
    assert r.returncode == 0, r.stderr
    return out, parse_events(r.stdout), r.stderr


@pytest.fixture(scope="module")
def one_rank_run(synth_set_3cls, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    # The hash model named: a module fixture does not get the per-test user folder, and a demo
    # checkpoint found there would fingerprint differently from the two-process run's.
    assert train(_cfg(synth_set_3cls, out, hash_model=RANDOM_SPEC))["status"] == "finished"
    return out


@pytest.mark.slow
def test_two_processes_write_one_stream_of_events_and_the_files_once(two_rank_run):
    out, events, stderr = two_rank_run
    for e in events:
        assert check_event(e) == [], e
    names = [e["event"] for e in events]
    assert names.count("run_started") == 1 and names.count("epoch_end") == EPOCHS
    assert names[-2:] == ["finished", "all_finished"]
    started = events[0]
    assert (started["world_size"], started["backend"], started["per_rank_batch"]) == (2, "gloo", 3)
    assert started["steps_per_epoch"] == 3 and started["data_loading"]["cached"] is True
    config = json.loads((out / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo", "per_rank_batch": 3}
    assert config["config"]["batch_size"] == 6  # the global batch
    assert [r["epoch"] for r in _metrics(out)] == list(range(1, EPOCHS + 1))  # one line per epoch: rank 0 alone
    assert {p.name for p in (out / "small_cnn").iterdir()} == {"metrics.jsonl", "last.pt", "best.pt", "report.json",
                                                                "probe"}
    # the probe: rank 0 alone, once per epoch, with the model unwrapped from DistributedDataParallel
    assert sorted(p.name for p in (out / "small_cnn" / "probe").iterdir()) == [
        f"epoch-{k:03d}.npz" for k in range(1, EPOCHS + 1)]
    assert names.count("probe") == EPOCHS
    assert "[rank 1]" in stderr and "small_cnn epoch 1/" in stderr and "[rank 1] small_cnn epoch" not in stderr


@pytest.mark.slow
def test_two_processes_fingerprint_a_share_each_and_find_the_duplicates_one_finds(two_rank_run, one_rank_run):
    out, _, stderr = two_rank_run
    one = json.loads((one_rank_run / "split.json").read_text())["duplicates"]
    two = json.loads((out / "split.json").read_text())["duplicates"]
    assert two == one and one["cross_split_pair_count"] >= 0 and "threshold" in one
    assert "(2 processes, a share each)" in stderr


@pytest.mark.slow
def test_two_processes_reach_the_figures_of_one(two_rank_run, one_rank_run):
    """small_cnn has no batch norm: 2 x 3 images per step train like 6 in one process."""
    out, events, _ = two_rank_run
    a, b = _weights(one_rank_run / "small_cnn" / "last.pt"), _weights(out / "small_cnn" / "last.pt")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=2e-5)
    for m1, m2 in zip(_metrics(one_rank_run), _metrics(out)):
        assert m2["train_acc"] == m1["train_acc"] and m2["val_acc"] == m1["val_acc"]
        assert m2["train_loss"] == pytest.approx(m1["train_loss"], rel=1e-4)
        assert m2["val_loss"] == pytest.approx(m1["val_loss"], rel=1e-4)
    r1 = json.loads((one_rank_run / "small_cnn" / "report.json").read_text())
    r2 = json.loads((out / "small_cnn" / "report.json").read_text())
    assert (r2["n"], r2["accuracy"], r2["confusion"], r2["split"]) == (r1["n"], r1["accuracy"], r1["confusion"], "test")
    assert r2["world_size"] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_as_rank(rank: int, port: int, cfg: dict) -> None:
    """One of two processes, with the environment torchrun gives, running the trainer in float64."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    assert train(TrainConfig.from_json(cfg))["status"] == "finished"


def _resnet_cfg(data, out, sync_bn):
    return _cfg(data, out, archs=["resnet50"], epochs=1, optimizer="sgd", lr=0.01, sync_bn=sync_bn).to_json()


@pytest.fixture(scope="module")
def one_process_float64(synth_set_3cls, tmp_path_factory):
    out = tmp_path_factory.mktemp("bn1") / "run"
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert train(TrainConfig.from_json(_resnet_cfg(synth_set_3cls, out, False)))["status"] == "finished"
    finally:
        torch.set_default_dtype(saved)
    return _weights(out / "resnet50" / "last.pt")


@pytest.mark.slow
@pytest.mark.parametrize("sync_bn", [True, False], ids=["sync-bn", "per-process-bn"])
def test_sync_bn_two_processes_with_half_batches_match_one_process(synth_set_3cls, tmp_path, one_process_float64, sync_bn):
    """resnet50, 3 SGD steps: 2 processes x 3 images with --sync-bn reach the weights (running
    statistics included) of 1 process x 6 images; without it they do not. In float64: a freshly
    initialised ResNet50 on 6 images is so ill-conditioned that float32 alone moves its
    gradients by 0.3-4 % (measured against float64), which would drown the comparison."""
    out = tmp_path / "two"
    torch.multiprocessing.spawn(_train_as_rank, args=(_free_port(), _resnet_cfg(synth_set_3cls, out, sync_bn)), nprocs=2)
    a, b = one_process_float64, _weights(out / "resnet50" / "last.pt")
    assert a.keys() == b.keys() and b["conv1.weight"].dtype == torch.float64
    # Per tensor, the largest difference relative to the tensor's largest value (measured: at
    # most 3e-8 with --sync-bn, float64 rounding amplified by 3 steps; above 1e-2 without).
    worst = max(((b[k] - a[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)).item()
                for k in a if a[k].is_floating_point())
    if sync_bn:
        assert worst < 1e-6
    else:  # batch norm over 3 images instead of 6: visibly other weights
        assert worst > 1e-3


@pytest.mark.slow
def test_sigterm_to_the_launcher_stops_every_process_and_resume_is_exact(synth_set_3cls, tmp_path, two_rank_run):
    """A real SIGTERM, to the launcher, which holds the run folder for its processes."""
    reference, _, _ = two_rank_run
    out = tmp_path / "run"
    args = ["--nproc-per-node", "2", "--data", str(synth_set_3cls), "--arch", "small_cnn", "--epochs", str(EPOCHS),
            "--out", str(out), *BASE]
    proc = _start_held(args, tmp_path / "ud")
    try:
        with pytest.raises(FolderBusy, match=f"process {proc.pid},"):  # the launcher's, not rank 0's
            RunFolder(out, "test").claim()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=300)
    events = parse_events(rest)
    assert proc.returncode == 0, err
    stops = [e for e in events if e["event"] == "stopped"]
    assert len(stops) == 1 and events[-1] is stops[0], [e["event"] for e in events]
    assert (stops[0]["epoch"], stops[0]["step"]) == divmod(HOLD_AT, 3)
    # Both processes received the stop and stopped at the step rank 0 reports.
    assert "[rank 1] stop requested (SIGTERM)" in err
    assert err.count("stopped after epoch 1 and step 1") == 2
    assert not list(out.rglob("*.tmp"))

    r = run_trainer("--resume", str(out), "--nproc-per-node", "2", data_dir=tmp_path / "ud", timeout=600)
    assert r.returncode == 0, r.stderr
    resumed = parse_events(r.stdout)
    assert resumed[0]["start_epoch"] == stops[0]["epoch"] and resumed[-1]["event"] == "all_finished"
    a, b = _weights(reference / "small_cnn" / "last.pt"), _weights(out / "small_cnn" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit-exact: CPU, same number of processes
    strip = [{k: v for k, v in m.items() if k not in ("seconds", "images_per_s")} for m in _metrics(reference)]
    assert strip == [{k: v for k, v in m.items() if k not in ("seconds", "images_per_s")} for m in _metrics(out)]


@pytest.mark.slow
def test_another_number_of_processes_resumes_with_a_note(synth_set_3cls, tmp_path, two_rank_run, caplog):
    from training.stopping import StopFlag
    from test_resume import stop_after_steps

    out = tmp_path / "run"
    flag = StopFlag()
    with stop_after_steps(4, flag):  # one process, stopped in the middle of epoch 2
        assert train(_cfg(synth_set_3cls, out, epochs=3), stop=flag)["status"] == "stopped"
    r = run_trainer("--resume", str(out), "--nproc-per-node", "2", data_dir=tmp_path / "ud", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "saved by 1 process and continues with 2" in r.stderr
    events = parse_events(r.stdout)
    assert events[0]["start_epoch"] == 1 and events[0]["world_size"] == 2
    assert [e["epoch"] for e in events if e["event"] == "epoch_end"] == [2, 3]


@pytest.mark.slow
def test_a_bad_option_fails_every_process_with_one_error_event(synth_set_3cls, tmp_path):
    r = run_trainer("--nproc-per-node", "2", "--data", str(synth_set_3cls), "--out", str(tmp_path / "run"),
                    "--arch", "small_cnn", "--batch-size", "5", data_dir=tmp_path / "ud", timeout=300)
    assert r.returncode == 2
    events = parse_events(r.stdout)
    assert [e["event"] for e in events] == ["error"]
    assert "multiple of the 2 processes" in events[0]["message"]
    # refused by the launcher, before any process started (one of them could otherwise be ended
    # by torchrun before it said why)
    assert "torch.distributed" not in r.stderr and "[rank" not in r.stderr


@pytest.mark.slow
def test_the_apps_stop_line_on_stdin_stops_every_process(synth_set_3cls, tmp_path):
    """The app launches `gcam-train --nproc-per-node N --stop-on-stdin` and writes "stop"."""
    out = tmp_path / "run"
    proc = _start_held(["--nproc-per-node", "2", "--stop-on-stdin", "--data", str(synth_set_3cls), "--arch", "small_cnn",
                        "--epochs", str(EPOCHS), "--out", str(out), *BASE], tmp_path / "ud", stdin=subprocess.PIPE)
    rest, err = proc.communicate("stop\n", timeout=300)
    events = parse_events(rest)
    assert proc.returncode == 0, err
    assert [e["event"] for e in events].count("stopped") == 1 and events[-1]["event"] == "stopped"
    assert (events[-1]["epoch"], events[-1]["step"]) == divmod(HOLD_AT, 3)
    assert "stop requested (stdin)" in err and err.count("stopped after epoch 1 and step 1") == 2
    from gcam_desktop.models import load_training_state

    state = load_training_state(out / "small_cnn" / "last.pt")
    assert (state["epochs_done"], state["step"]) == (events[-1]["epoch"], events[-1]["step"])
