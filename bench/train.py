"""Trainer throughput vs a bare PyTorch loop, and the three ResNet50 variants' epoch times.

1. images/s of `training.train` against a bare loop (same model, batch, in-memory images,
   augmentation and validation pass; no events, metrics, checkpoints or stop checks), run in
   alternating rounds so machine noise hits both alike. The trainer is timed from its
   `run_started` event to the `checkpoint` event of its last epoch's last.pt, so the per-epoch
   checkpoint writes count against it. Goal: ratio >= 0.95.
2. seconds per epoch of resnet50, se_resnet50 and s_se_resnet50 relative to resnet50: epochs
   of the three run round-robin (after a warm-up epoch each), medians. The loop is the bare one,
   which part 1 shows the trainer matches.
3. scale: training images/s of `gcam-train --nproc-per-node 2` (two processes, gloo, on this
   CPU) against one process, and of the streaming path (--cache-gb 0: decoded per batch by a
   DataLoader worker) against the decode-once cache; each pair in alternating rounds, images/s
   from the epoch_end events of the epochs after the first.
4. probe: seconds per epoch of the trainer with its default probe (`--probe 4`: Grad-CAM of four
   validation images after every epoch, their file and event) against `--probe 0`, in alternating
   rounds, timed as in part 1; and the probe's own seconds (its events) per epoch. Goal: <= 5 %.

    python bench/train.py [--arch resnet50] [--per-class 80] [--size 64] [--batch 32] [--epochs 3] [--rounds 2]
                          [--part all|overhead|scale|probe]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as gcam-train sets it; both sides share it

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gcam_desktop.models import IMAGENET_MEAN, IMAGENET_STD, build_model  # noqa: E402
from gcam_desktop.models.names import RESNET_ARCHS  # noqa: E402
from training import TrainConfig, train  # noqa: E402
from training.run import prepare  # noqa: E402
from training.synth import make_synthetic  # noqa: E402


def trainer_images_per_s(cfg: TrainConfig, out: Path) -> tuple[float, dict]:
    marks: dict = {}

    def on_event(e: dict) -> None:
        now = time.perf_counter()
        if e["event"] == "run_started":
            marks["start"], marks["n"] = now, e["sizes"]["train"]
        elif e["event"] == "checkpoint" and not e["is_best"] and e["epoch"] == cfg.epochs:
            marks["end"] = now
        elif e["event"] == "epoch_end":
            marks.setdefault("epochs", []).append(e)

    cfg = TrainConfig.from_json({**cfg.to_json(), "out": str(out)})
    train(cfg, on_event=on_event)
    return marks["n"] * cfg.epochs / (marks["end"] - marks["start"]), marks


class BareLoop:
    """The loop a person writes by hand: shuffle, flip, normalise, step; then a validation pass."""

    def __init__(self, arch: str, cfg: TrainConfig, data, num_classes: int) -> None:
        torch.manual_seed(cfg.seed)
        self.model = build_model(arch, num_classes)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.cfg, self.epoch = cfg, 0
        self.train_u8, self.train_y = data.sets["train"].cache, data.sets["train"].labels
        self.val_u8 = data.sets["val"].cache
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def run_epoch(self) -> float:
        """Seconds for one epoch."""
        model, n, b = self.model, len(self.train_y), self.cfg.batch_size
        t0 = time.perf_counter()
        model.train()
        g = torch.Generator().manual_seed(self.epoch)
        self.epoch += 1
        order = torch.randperm(n, generator=g)
        flips = torch.rand(n, generator=g) < 0.5
        for k in range(0, n, b):
            idx = order[k:k + b]
            if len(idx) < 2:
                continue
            x = self.train_u8[idx]
            f = flips[idx]
            x[f] = x[f].flip(-1)
            x = (x.float() / 255.0 - self.mean) / self.std
            loss = F.cross_entropy(model(x), self.train_y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        model.eval()
        with torch.no_grad():
            for k in range(0, len(self.val_u8), b):
                model((self.val_u8[k:k + b].float() / 255.0 - self.mean) / self.std).argmax(1)
        return time.perf_counter() - t0


def bare_images_per_s(cfg: TrainConfig, data, num_classes: int) -> float:
    loop = BareLoop(cfg.archs[0], cfg, data, num_classes)
    seconds = sum(loop.run_epoch() for _ in range(cfg.epochs))
    return len(loop.train_y) * cfg.epochs / seconds


def checkpoint_seconds(cfg: TrainConfig, num_classes: int, out: Path) -> tuple[float, float]:
    """(seconds, MB) to snapshot and write one epoch's last.pt and best.pt, alone."""
    from training.checkpoints import CheckpointWriter

    model = build_model(cfg.archs[0], num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    F.cross_entropy(model(torch.zeros(2, 3, 32, 32)), torch.zeros(2, dtype=torch.long)).backward()
    opt.step()  # Adam's moments exist, as in a real last.pt
    writer = CheckpointWriter()
    meta = {"arch": cfg.archs[0], "epoch": 1}
    t0 = time.perf_counter()
    writer.submit(out / "best.pt", model, meta)
    writer.submit(out / "last.pt", model, meta, {"optimizer": opt.state_dict()})
    writer.close()
    mb = sum((out / n).stat().st_size for n in ("best.pt", "last.pt")) / 1e6
    return time.perf_counter() - t0, mb


def cli_images_per_s(args: list[str], out: Path, nproc: int) -> float:
    """Median training images/s of the epochs after the first, from a gcam-train process's events."""
    cmd = [sys.executable, "-m", "training", *args, "--out", str(out)]
    if nproc > 1:
        cmd[3:3] = ["--nproc-per-node", str(nproc)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    epochs = [json.loads(line) for line in r.stdout.splitlines() if '"epoch_end"' in line]
    return statistics.median(e["images_per_s"] for e in epochs[1:] or epochs)


def trainer_epoch_seconds(cfg: TrainConfig, out: Path) -> tuple[float, float, float]:
    """(wall seconds per epoch, the probe's own seconds per epoch, the epoch_end events' seconds:
    training and validation alone) of one trainer run, from its run_started event to its last
    epoch's last.pt."""
    marks: dict = {"probe": 0.0, "train": []}

    def on_event(e: dict) -> None:
        now = time.perf_counter()
        if e["event"] == "run_started":
            marks["start"] = now
        elif e["event"] == "checkpoint" and not e["is_best"] and e["epoch"] == cfg.epochs:
            marks["end"] = now
        elif e["event"] == "epoch_end":
            marks["train"].append(e["seconds"])
        elif e["event"] == "probe":
            marks["probe"] += e["seconds"]
            if e["epoch"] == cfg.epochs:
                marks["probe_end"] = now

    train(TrainConfig.from_json({**cfg.to_json(), "out": str(out)}), on_event=on_event)
    # The last epoch ends with its last.pt written and, with the probe, its probe done (either may come first).
    end = max(marks["end"], marks.get("probe_end", marks["end"]))
    return (end - marks["start"]) / cfg.epochs, marks["probe"] / cfg.epochs, statistics.median(marks["train"])


def probe_part(args, cfg: TrainConfig, tmp: Path) -> None:
    """Epoch time with the default probe and without, alternating which goes first each round."""
    n = TrainConfig().probe
    runs = {f"--probe {n}": TrainConfig.from_json({**cfg.to_json(), "probe": n}),
            "--probe 0": TrainConfig.from_json({**cfg.to_json(), "probe": 0})}
    # Warm-up: the first run in a process pays one-time costs (kernels, lazy imports); not either side.
    trainer_epoch_seconds(TrainConfig.from_json({**cfg.to_json(), "epochs": 1, "probe": n}), tmp / "probe-warm")
    epoch = {k: [] for k in runs}
    inner = {k: [] for k in runs}  # epoch_end's seconds: does the probe slow the training itself?
    own: list[float] = []
    share: list[float] = []  # the probe's seconds / its own run's epoch: immune to load drift between runs
    for r in range(args.rounds):
        for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            secs, probe_secs, train_secs = trainer_epoch_seconds(runs[name], tmp / f"probe-{r}-{name[-1]}")
            epoch[name].append(secs)
            inner[name].append(train_secs)
            if probe_secs:
                own.append(probe_secs)
                share.append(probe_secs / secs)
            print(f"  round {r + 1}: {name}: {secs:.2f} s per epoch, {train_secs:.2f} s training and validation"
                  + (f" (probe {probe_secs:.3f} s)" if probe_secs else ""), flush=True)
    a, b = (statistics.median(v) for v in epoch.values())
    p = statistics.median(own)
    ia, ib = (statistics.median(v) for v in inner.values())
    print(f"training and validation seconds per epoch (epoch_end) with / without the probe: {ia:.2f} / {ib:.2f} = "
          f"{ia / ib:.3f}")
    print(f"seconds per epoch with / without the probe ({n} images): {a:.2f} / {b:.2f} = {a / b:.3f}  (goal <= 1.05); "
          f"the probe itself {p:.3f} s per epoch = {p / b:.1%} of an epoch without it, "
          f"{statistics.median(share):.1%} of the epochs of its own runs")


def scale_part(args, data: Path, tmp: Path) -> None:
    recipe = ["--data", str(data), "--arch", args.arch, "--epochs", str(args.epochs), "--batch-size",
              str(args.batch), "--input-size", str(args.size), "--val-fraction", "0.1", "--test-fraction", "0"]
    pairs = {"processes": ("2 processes (gloo)", [], 2, "1 process", [], 1),
             "loading": ("streaming (--cache-gb 0, 1 worker)", ["--cache-gb", "0", "--workers", "1"], 1,
                         "cached in memory", [], 1)}
    for key, (name_a, extra_a, n_a, name_b, extra_b, n_b) in pairs.items():
        a, b = [], []
        for r in range(args.rounds):
            a.append(cli_images_per_s(recipe + extra_a, tmp / f"{key}-a{r}", n_a))
            b.append(cli_images_per_s(recipe + extra_b, tmp / f"{key}-b{r}", n_b))
            print(f"  round {r + 1}: {name_a} {a[-1]:.1f} img/s, {name_b} {b[-1]:.1f} img/s", flush=True)
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name_a} / {name_b} training images/s: {ma:.1f} / {mb:.1f} = {ma / mb:.3f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--per-class", type=int, default=80)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--part", choices=("all", "overhead", "scale", "probe"), default="all")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("GCAM_DESKTOP_DATA_DIR", str(tmp / "user-data"))
        make_synthetic(tmp / "synth", classes=args.classes, per_class=args.per_class, size=args.size, seed=0)
        if args.part == "scale":
            print(f"device cpu, {os.cpu_count()} cores, {args.arch}, {args.classes * args.per_class} images of "
                  f"{args.size}px, global batch {args.batch}, {args.epochs} epochs per run, load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            scale_part(args, tmp / "synth", tmp)
            return 0
        cfg = TrainConfig(data=str(tmp / "synth"), archs=[args.arch], epochs=args.epochs, batch_size=args.batch,
                          input_size=args.size, val_fraction=0.1, test_fraction=0.0, seed=0)
        if args.part == "probe":
            print(f"device cpu, torch threads {torch.get_num_threads()}, {args.arch}, {args.classes * args.per_class} "
                  f"images of {args.size}px, batch {args.batch}, {args.epochs} epochs per run, load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            probe_part(args, cfg, tmp)
            return 0
        split, data, _ = prepare(TrainConfig.from_json(cfg.to_json()))
        tr, va = data.sets["train"], data.sets["val"]
        n_cls = len(data.class_names)
        print(f"device cpu, torch threads {torch.get_num_threads()}, {args.arch}, {len(tr)} train / {len(va)} val "
              f"images of {args.size}px, batch {args.batch}, {args.epochs} epochs per run, load "
              f"{os.getloadavg()[0]:.1f}", flush=True)

        # Warm-up: one-time costs (oneDNN kernels, lazy imports) must not land in either side.
        bare_images_per_s(TrainConfig.from_json({**cfg.to_json(), "epochs": 1}), data, n_cls)
        ours, bare = [], []
        for r in range(args.rounds):
            ips, _ = trainer_images_per_s(cfg, tmp / f"run-{r}")
            ours.append(ips)
            bare.append(bare_images_per_s(cfg, data, n_cls))
            print(f"  round {r + 1}: trainer {ours[-1]:.1f} img/s, bare loop {bare[-1]:.1f} img/s", flush=True)
        t, b = statistics.median(ours), statistics.median(bare)
        print(f"trainer / bare loop images/s: {t:.1f} / {b:.1f} = {t / b:.3f}  (goal >= 0.95)")
        secs, mb = checkpoint_seconds(cfg, n_cls, tmp)
        epoch_s = len(tr) / t
        print(f"  of which checkpoints: snapshot + write of last.pt and best.pt ({mb:.0f} MB) take "
              f"{secs:.2f} s alone, per {epoch_s:.1f} s epoch (written on a background thread)")

        # The variants differ in the model alone: their epochs are run round-robin with the
        # same loop (models kept warm) so that load changes hit all three alike.
        variants = list(RESNET_ARCHS)
        loops = {a: BareLoop(a, cfg, data, n_cls) for a in variants}
        for loop in loops.values():
            loop.run_epoch()  # warm-up
        samples = {a: [] for a in variants}
        for _ in range(args.rounds + 1):
            for a in variants:
                samples[a].append(loops[a].run_epoch())
        seconds = {a: statistics.median(v) for a, v in samples.items()}
        base = seconds["resnet50"]
        print(f"seconds per epoch ({len(tr)} images, median of {args.rounds + 1} interleaved epochs):")
        for arch in variants:
            print(f"  {arch:14s} {seconds[arch]:7.2f} s   x{seconds[arch] / base:.3f} of resnet50")
        if args.part == "all":
            scale_part(args, tmp / "synth", tmp)
            probe_part(args, cfg, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
