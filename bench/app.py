"""The desktop app's speed goals.

- launch to window, 10,000-image folder, opacity repaint: measured in
  gcam_desktop.app.tooling.bench because they drive real widgets (run here too);
- time to the first heatmap (issue 13): launch -> first map of each of the three panels with
  the three demo checkpoints and an image given on the command line (goal: all three within
  4 s on an idle 2-core CPU), median of several launches, next to a bare `import torch`
  process; and where that time goes, piece by piece, in fresh processes: import torch, the
  engine's imports, each checkpoint read, the model built with and without its random
  initialisation, each model's first and second Grad-CAM.

    python bench/app.py [--first-maps-only] [--rounds 5]

Without the three demo checkpoints, stand-ins of the same architectures, classes and input
size (random weights: the time does not depend on the values) are written to a temporary folder.
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gcam_desktop.paths import DEMO_ARCHS as ARCHS  # noqa: E402  (the demo models it times)
GOAL_S = 4.0


def demo_checkpoints() -> tuple[dict[str, Path], str]:
    from gcam_desktop.paths import demo_checkpoint

    found = {a: demo_checkpoint(a) for a in ARCHS}
    if all(p.is_file() for p in found.values()):
        return found, "the demo checkpoints"
    from training.config import DEMO_SYNTH, DEMO_TRAIN

    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    folder = Path(tempfile.mkdtemp(prefix="gcam-bench-demo-"))
    names = ["cross", "disc", "ring", "square", "star", "triangle"][:DEMO_SYNTH["classes"]]
    for arch in ARCHS:
        save_checkpoint(folder / f"{arch}.pt", build_model(arch, len(names)),
                        make_meta(arch, names, input_size=DEMO_TRAIN["input_size"]))
        found[arch] = folder / f"{arch}.pt"
    return found, "stand-ins shaped like the demo checkpoints (random weights)"


def _sample() -> Path:
    from gcam_desktop.app.demo import sample_images
    from gcam_desktop.imaging import scan_folder

    return next(iter(scan_folder(sample_images())))


def _launch(args: list[str], env: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{args} failed: {r.stderr[-2000:]}")
    return time.perf_counter() - t0, json.loads(r.stdout.strip().splitlines()[-1])


def bench_first_maps(rounds: int, ckpts: dict[str, Path], what: str) -> None:
    sample = _sample()
    env = dict(os.environ, GCAM_DESKTOP_DATA_DIR=tempfile.mkdtemp(prefix="gcam-bench-"))
    args = [sys.executable, "-m", "gcam_desktop.app", "--quit-after-maps", str(sample)]
    for arch, path in ckpts.items():
        args += ["--weights", f"{arch}={path}"]
    firsts: dict[str, list[float]] = {}
    last, window, torch_import = [], [], []
    for _ in range(rounds):  # interleaved with a bare `import torch`, so machine noise hits both
        _, t = _launch(args, env)
        for slot, s in t["launch_to_map_s"].items():
            firsts.setdefault(slot, []).append(s)
        last.append(max(t["launch_to_map_s"].values()))
        window.append(t["launch_to_window_s"])
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
        torch_import.append(time.perf_counter() - t0)
    med = statistics.median
    per_slot = ", ".join(f"{slot} {med(v):.2f} s" for slot, v in firsts.items())
    print(f"launch to first map of each panel ({what}, {sample.name}, median of {rounds}): {per_slot}; "
          f"all three {med(last):.2f} s (goal <= {GOAL_S:.0f} s: {'ok' if med(last) <= GOAL_S else 'over'}); "
          f"window {med(window):.2f} s; bare `import torch` process {med(torch_import):.2f} s; "
          f"all three / torch = {med(last) / med(torch_import):.2f}")


PIECES = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
out = {"import torch": time.perf_counter() - t0}
t = time.perf_counter()
from gcam_desktop.models import build_model, load_checkpoint, read_checkpoint
from gcam_desktop.explain.engine import explain
out["engine imports"] = time.perf_counter() - t
x = torch.rand(1, 3, 64, 64)
for arch, path in json.loads(sys.argv[1]).items():
    t = time.perf_counter(); sd, meta, _ = read_checkpoint(path); out[f"{arch} read"] = time.perf_counter() - t
    t = time.perf_counter(); build_model(arch, meta["num_classes"]).load_state_dict(sd)
    out[f"{arch} build with random init + load (before)"] = time.perf_counter() - t
    t = time.perf_counter(); model, meta = load_checkpoint(path)
    out[f"{arch} load_checkpoint (read, build on meta, assign)"] = time.perf_counter() - t
    x = torch.rand(1, 3, meta["input_size"], meta["input_size"])
    t = time.perf_counter(); explain(model, x, method="gradcam"); out[f"{arch} first Grad-CAM"] = time.perf_counter() - t
    t = time.perf_counter(); explain(model, x, method="gradcam"); out[f"{arch} second Grad-CAM"] = time.perf_counter() - t
print(json.dumps(out))
"""


def bench_pieces(rounds: int, ckpts: dict[str, Path], what: str) -> None:
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        r = subprocess.run([sys.executable, "-c", PIECES, json.dumps({a: str(p) for a, p in ckpts.items()})],
                           capture_output=True, text=True, timeout=600, check=True)
        for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(k, []).append(v)
    print(f"where the time goes ({what}, fresh process each, median of {rounds}):")
    for k, v in samples.items():
        print(f"  {k:<58} {statistics.median(v):6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--first-maps-only", action="store_true", help="only the time to the first heatmaps")
    args = ap.parse_args()
    # Looked up first: the widget benches point the data folder at a temporary one.
    ckpts, what = demo_checkpoints()
    if not args.first_maps_only:
        from gcam_desktop.app.tooling.bench import main as widget_benches

        widget_benches()
    bench_pieces(args.rounds, ckpts, what)
    bench_first_maps(args.rounds, ckpts, what)


if __name__ == "__main__":
    main()
