"""What an explanation costs, as ratios measured side by side in one run (issue 3).

For each ResNet50 variant at 224 x 224, batch 1 and batch 16, on the CPU (and CUDA when present):
  - Grad-CAM at layer4 / a torch.no_grad() forward of the same model     goal <= 1.10
  - top-5 Grad-CAM / top-1 Grad-CAM                                      goal <= 1.15
  - for contrast, a textbook Grad-CAM (backward to the input, parameter gradients on)
Then, for SE / s_se, Grad-CAM that also records every attention gate (explain(gates=True)) /
Grad-CAM alone (goal <= 1.05, issue 12), and Grad-CAM with the attention switched off for contrast.
Then every other method / Grad-CAM (batch 1; what each costs the user), the peak RSS over many
successive calls (goal: growth <= 50 MB), and the overlay's cost at 1024 x 1024.
LRP (issue 21): each composite / a no-grad forward at batch 1 and 8 (goal <= 2.5), and for
ResNet50 ours / Zennit used directly on torchvision's ResNet50 with the same weights, composite
and canonizer (goal <= 1.0; Zennit has no rule for the SE gates, so no such column for them).
The z+ composites (epsilon_plus_flat, alpha1_beta0) need three convolutions per layer where the
forward needs one: their floor is about 2.7 x, above the goal (docs/adr/0034).

    python bench/explain.py                      # the full run (CPU: tens of minutes)
    python bench/explain.py --quick              # a small, fast pass over the same code
    python bench/explain.py --batches 1 --rss-calls 50 --archs resnet50
    python bench/explain.py --threads 1          # steadier on a busy shared machine
    python bench/explain.py --gates-only --threads 1   # the attention gates' cost only
    python bench/explain.py --perturbation-only --method-archs resnet50 se_resnet50 s_se_resnet50
                                                 # DeepLIFT, occlusion, RISE / a forward (ADR 0029)
    python bench/explain.py --lrp-only --threads 1     # LRP's cost only
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from gcam_desktop.explain import METHODS, explain, overlay  # noqa: E402
from gcam_desktop.models import build_model  # noqa: E402
from gcam_desktop.models.names import ATTENTION_ARCHS, RESNET_ARCHS as RESNETS  # noqa: E402

GOAL_FORWARD, GOAL_TOPK, GOAL_RSS_MB, GOAL_GATES = 1.10, 1.15, 50.0, 1.05
PERTURBATION = ("deeplift", "occlusion", "rise")  # timed per image against a forward (ADR 0029)
GOAL_LRP_FORWARD, GOAL_LRP_ZENNIT = 2.5, 1.0


def interleaved(fns: Mapping[str, Callable[[], object]], rounds: int = 5,
                warmup: int = 1, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of each call of each fn, run round-robin so machine noise hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, rounds)):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            samples[name].append(clock() - t0)
    return samples


def ratio(samples: Mapping[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of a / b measured in the same round: neighbours in time share the
    machine's load, so a slow spell on a shared machine cancels in each round's ratio, and the
    median drops the rounds a spike hit only one side of."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def median(samples: Mapping[str, list[float]], name: str) -> float:
    return statistics.median(samples[name])


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER GOAL"


def sync_for(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def textbook_gradcam(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM as usually written: parameters trainable, a hook keeps layer4's output, and
    score.backward() runs the whole way down, computing every parameter gradient."""
    kept = {}
    handle = model.layer4.register_forward_hook(lambda m, i, o: kept.setdefault("a", o))
    try:
        xi = x.clone()
        out = model(xi)
        kept["a"].retain_grad()
        out.gather(1, out.argmax(1, keepdim=True)).sum().backward()
        a, g = kept["a"], kept["a"].grad
        cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1))
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    return cam.detach()


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: VmHWM, which starts afresh in a new program (ru_maxrss would carry over the
    parent's peak across fork and exec). Elsewhere ru_maxrss (KB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_core(device, archs, batches, size, classes, rounds) -> list[str]:
    sync = sync_for(device)
    problems = []
    print(f"\n[{device}] Grad-CAM at layer4 vs forward, top-5 vs top-1 ({size}x{size}, {classes} classes, "
          f"median ms; ratios: median of {rounds} interleaved rounds' ratios)")
    print(f"  {'arch':14s} {'batch':>5s} {'forward':>10s} {'gradcam':>10s} {'/fwd':>6s} {'top-5':>10s} "
          f"{'/top-1':>7s} {'textbook':>10s} {'/fwd':>6s}")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, classes).eval().to(device)
        for b in batches:
            x = torch.randn(b, 3, size, size, device=device)

            def forward():
                with torch.no_grad():
                    model(x)
                sync()

            def top(k):
                def run():
                    explain(model, x, "gradcam", layer="layer4", top_k=k)
                    sync()
                return run

            def textbook():
                model.requires_grad_(True)
                textbook_gradcam(model, x)
                sync()

            samples = interleaved({"forward": forward, "top1": top(1), "top5": top(5), "textbook": textbook},
                                  rounds=rounds)
            t = {name: median(samples, name) for name in samples}
            r_fwd, r_top = ratio(samples, "top1", "forward"), ratio(samples, "top5", "top1")
            r_text = ratio(samples, "textbook", "forward")
            print(f"  {arch:14s} {b:5d} {t['forward'] * 1e3:8.1f}ms {t['top1'] * 1e3:8.1f}ms {r_fwd:6.3f} "
                  f"{t['top5'] * 1e3:8.1f}ms {r_top:7.3f} {t['textbook'] * 1e3:8.1f}ms {r_text:6.2f}  "
                  f"[gradcam/fwd <= {GOAL_FORWARD}: {verdict(r_fwd <= GOAL_FORWARD)}; "
                  f"top5/top1 <= {GOAL_TOPK}: {verdict(r_top <= GOAL_TOPK)}]")
            if r_fwd > GOAL_FORWARD:
                problems.append(f"{device} {arch} b{b}: gradcam/forward {r_fwd:.3f}")
            if r_top > GOAL_TOPK:
                problems.append(f"{device} {arch} b{b}: top5/top1 {r_top:.3f}")
        del model
    return problems


def bench_gates(device, archs, batches, size, classes, rounds) -> list[str]:
    """What recording the gates adds to an ordinary explanation: the same Grad-CAM call with
    gates=True vs without, interleaved (plus attention="off" for contrast, no goal).

    On the CPU the clock is this process's CPU time, not the wall clock: the difference sought
    is a few per cent, and on a shared machine other jobs move wall-clock times by more."""
    sync = sync_for(device)
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    problems = []
    print(f"\n[{device}] Grad-CAM recording the attention gates / Grad-CAM alone ({size}x{size}, median "
          f"{'CPU' if device.type == 'cpu' else 'wall'} ms; goal <= {GOAL_GATES})")
    print(f"  {'arch':14s} {'batch':>5s} {'gradcam':>10s} {'+gates':>10s} {'ratio':>6s} {'att. off':>10s} {'ratio':>6s}")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, classes).eval().to(device)
        for b in batches:
            x = torch.randn(b, 3, size, size, device=device)

            def run(**kw):
                def fn():
                    explain(model, x, "gradcam", layer="layer4", **kw)
                    sync()
                return fn

            samples = interleaved({"plain": run(), "gates": run(gates=True), "off": run(attention="off")},
                                  rounds=rounds, clock=clock)
            t = {name: median(samples, name) for name in samples}
            r_gates, r_off = ratio(samples, "gates", "plain"), ratio(samples, "off", "plain")
            print(f"  {arch:14s} {b:5d} {t['plain'] * 1e3:8.1f}ms {t['gates'] * 1e3:8.1f}ms {r_gates:6.3f} "
                  f"{t['off'] * 1e3:8.1f}ms {r_off:6.3f}  [gates <= {GOAL_GATES}: {verdict(r_gates <= GOAL_GATES)}]")
            if r_gates > GOAL_GATES:
                problems.append(f"{device} {arch} b{b}: gates/gradcam {r_gates:.3f}")
        del model
    return problems


def bench_methods(device, archs, batch, size, classes, rounds, scorecam_channels) -> None:
    sync = sync_for(device)
    print(f"\n[{device}] each method / Grad-CAM at layer4 (batch {batch}, {size}x{size}, top-1, default "
          f"options; scorecam with max_channels={scorecam_channels}: its cost grows linearly with it)")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, classes).eval().to(device)
        x = torch.randn(batch, 3, size, size, device=device)

        def run(method):
            opts = {"max_channels": scorecam_channels} if method == "scorecam" else {}

            def fn():
                explain(model, x, method, **opts)
                sync()
            return fn

        methods = [m for m in METHODS if m not in PERTURBATION]  # those: bench_perturbation, per forward
        samples = interleaved({m: run(m) for m in methods}, rounds=rounds)
        t = {m: median(samples, m) for m in methods}
        r = {m: ratio(samples, m, "gradcam") for m in methods}
        print(f"  {arch}:")
        for m in methods:
            extra = ""
            if m == "scorecam":
                channels = model.layer4[-1].conv3.out_channels
                extra = f"  (all {channels} channels: about {r[m] * channels / scorecam_channels:.0f}x)"
            print(f"    {m:22s} {t[m] * 1e3:10.1f} ms {r[m]:8.2f}x{extra}")
        del model


def bench_perturbation(device, archs, size, classes, rounds) -> None:
    """DeepLIFT, occlusion and RISE at their defaults, per image (batch 1), as a multiple of one
    no-grad forward; for occlusion and RISE also per forward they make (the batching's gain).
    Then our DeepLIFT beside Captum's on torchvision's ResNet50 made Captum-ready (ADR 0029)."""
    from gcam_desktop.explain.engine import method_options
    from gcam_desktop.explain.progress import reporting

    sync = sync_for(device)
    print(f"\n[{device}] propagation and perturbation methods, default options, batch 1, {size}x{size}: "
          f"cost / one no-grad forward")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, classes).eval().to(device)
        x = torch.randn(1, 3, size, size, device=device)
        forwards = {}

        def run(method):
            def fn():
                seen = []
                with reporting(lambda done, total: seen.append(total)):
                    explain(model, x, method)
                forwards[method] = seen[-1] if seen else 0
                sync()
            return fn

        def forward():
            with torch.no_grad():
                model(x)
            sync()

        forward()  # warm: the methods' hundreds of forwards need no warm-up call of their own
        samples = interleaved({"forward": forward, **{m: run(m) for m in PERTURBATION}}, rounds=rounds, warmup=0)
        print(f"  {arch}: forward {median(samples, 'forward') * 1e3:.1f} ms")
        for m in PERTURBATION:
            r = ratio(samples, m, "forward")
            per = f"  ({forwards[m]} forwards: {r / forwards[m]:.2f}x a forward each)" if m != "deeplift" else ""
            print(f"    {m:10s} {median(samples, m):8.2f} s {r:9.1f}x  {method_options(m)}{per}")
        del model
    try:
        import types
        import warnings

        import torchvision
        from captum.attr import DeepLift
    except ImportError:
        print("  (captum not installed: no comparison with Captum's DeepLift)")
        return
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(num_classes=classes).eval().to(device)
    ready = _captum_ready(torchvision, types)(torchvision.models.resnet50(num_classes=classes)).eval().to(device)
    ready.load_state_dict(tv.state_dict())
    x = torch.randn(1, 3, size, size, device=device)
    zeros = torch.zeros_like(x)

    def ours():
        explain(tv, x, "deeplift", reference="mean", targets=0)
        sync()

    def captum():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DeepLift(ready).attribute(x, baselines=zeros, target=0)
        sync()

    samples = interleaved({"ours": ours, "captum": captum}, rounds=rounds)
    print(f"  torchvision resnet50 DeepLIFT: ours {median(samples, 'ours'):.2f} s, Captum {median(samples, 'captum'):.2f} s, "
          f"ours / Captum {ratio(samples, 'ours', 'captum'):.2f}")


def _captum_ready(torchvision, types):
    """A torchvision ResNet50 as Captum's DeepLift needs it (one ReLU module per use, none in
    place), as in tests/explain/test_deeplift.py."""
    def convert(model):
        model.relu = torch.nn.ReLU()
        for m in model.modules():
            if isinstance(m, torchvision.models.resnet.Bottleneck):
                m.relu1, m.relu2, m.relu3 = torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.ReLU()

                def forward(self, x):
                    identity = x if self.downsample is None else self.downsample(x)
                    out = self.relu1(self.bn1(self.conv1(x)))
                    out = self.relu2(self.bn2(self.conv2(out)))
                    return self.relu3(self.bn3(self.conv3(out)) + identity)

                m.forward = types.MethodType(forward, m)
        return model
    return convert
def zennit_lrp(composite: str):
    """Zennit used directly, as its documentation shows, with the composite our option names:
    a function (torchvision model, x, classes) -> the input relevance of each image's class."""
    from torch import nn
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlus, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.torchvision import ResNetCanonizer
    from zennit.types import Convolution

    def make():
        canon = [ResNetCanonizer()]
        if composite == "epsilon_plus_flat":
            return EpsilonPlusFlat(canonizers=canon)
        if composite == "alpha1_beta0":
            return EpsilonPlus(canonizers=canon)
        return LayerMapComposite(layer_map_base() + [(Convolution, Epsilon()), (nn.Linear, Epsilon())],
                                 canonizers=canon)

    def run(model, x, classes):
        c = classes.view(-1, 1)
        with Gradient(model, make()) as attributor:
            return attributor(x, lambda out: torch.zeros_like(out).scatter_(1, c, out.gather(1, c)))[1]
    return run


def bench_lrp(device, archs, batches, size, classes, rounds, composites=None) -> list[str]:
    """LRP per composite / a no-grad forward, and / Zennit on torchvision's ResNet50."""
    import torchvision

    from gcam_desktop.explain.lrp import COMPOSITES

    composites = composites or COMPOSITES
    sync = sync_for(device)
    problems = []
    print(f"\n[{device}] LRP / a no-grad forward (goal <= {GOAL_LRP_FORWARD}) and / Zennit on torchvision's "
          f"ResNet50 (goal <= {GOAL_LRP_ZENNIT}) ({size}x{size}, top-1, median of {rounds} interleaved rounds' ratios)")
    print(f"  {'arch':14s} {'batch':>5s} {'composite':18s} {'forward':>10s} {'lrp':>10s} {'/fwd':>6s} "
          f"{'zennit':>10s} {'ours/zennit':>11s}")
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, classes).eval().to(device)
        tv = None
        if arch == "resnet50":
            tv = torchvision.models.resnet50(num_classes=classes).eval().to(device)
            tv.load_state_dict(model.state_dict())
        for b in batches:
            x = torch.randn(b, 3, size, size, device=device)
            with torch.no_grad():
                cls = model(x).argmax(1)

            def forward():
                with torch.no_grad():
                    model(x)
                sync()

            for composite in composites:
                fns = {"forward": forward}

                def ours(composite=composite):
                    explain(model, x, "lrp", targets=cls.tolist(), composite=composite)
                    sync()
                fns["lrp"] = ours
                if tv is not None:
                    ref = zennit_lrp(composite)

                    def zennit(ref=ref):
                        ref(tv, x, cls)
                        sync()
                    fns["zennit"] = zennit
                samples = interleaved(fns, rounds=rounds)
                r_fwd = ratio(samples, "lrp", "forward")
                line = (f"  {arch:14s} {b:5d} {composite:18s} {median(samples, 'forward') * 1e3:8.1f}ms "
                        f"{median(samples, 'lrp') * 1e3:8.1f}ms {r_fwd:6.2f}")
                if tv is not None:
                    r_z = ratio(samples, "lrp", "zennit")
                    line += f" {median(samples, 'zennit') * 1e3:8.1f}ms {r_z:11.2f}"
                    if r_z > GOAL_LRP_ZENNIT:
                        problems.append(f"{device} {arch} b{b} {composite}: lrp/zennit {r_z:.2f}")
                print(line + f"  {verdict(r_fwd <= GOAL_LRP_FORWARD)}")
                if r_fwd > GOAL_LRP_FORWARD:
                    problems.append(f"{device} {arch} b{b} {composite}: lrp/forward {r_fwd:.2f}")
        del model, tv
    print("  (z+ composites: three convolutions per layer against the forward's one, a floor of about "
          "2.7 x; docs/adr/0034)")
    return problems


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc; elsewhere the peak stands in)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:
        return rss_mb()


def rss_child(device: str, arch: str, size: int, classes: int, calls: int, method: str) -> dict:
    """Runs in a fresh process, so the peak measured is this loop's own, not an earlier batch's."""
    dev = torch.device(device)
    sync = sync_for(dev)
    torch.manual_seed(0)
    model = build_model(arch, classes).eval().to(dev)
    x = torch.randn(1, 3, size, size, device=dev)
    for _ in range(5):  # allocator pools and one-time kernel set-up settle first
        explain(model, x, method)
    sync()
    gc.collect()
    peak0, now = rss_mb(), [current_rss_mb()]
    t0 = time.perf_counter()
    for i in range(calls):
        explain(model, x, method).maps.cpu()  # use the result as a caller would
        if (i + 1) % max(1, calls // 10) == 0:
            now.append(current_rss_mb())
    sync()
    return {"peak_before": peak0, "peak_after": rss_mb(), "rss": now,
            "ms_per_call": (time.perf_counter() - t0) / calls * 1e3}


def bench_rss(device, arch, size, classes, calls, methods, threads) -> list[str]:
    problems = []
    print(f"\n[{device}] peak RSS over {calls} successive calls ({arch}, batch 1, {size}x{size}; a fresh "
          f"process per method)")
    for method in methods:
        cmd = [sys.executable, __file__, "--rss-child", json.dumps([str(device), arch, size, classes, calls, method])]
        if threads:
            cmd += ["--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {method}: the measuring process failed:\n{proc.stderr[-2000:]}")
            problems.append(f"{device} {method}: RSS check failed")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        growth = r["peak_after"] - r["peak_before"]
        ok = growth <= GOAL_RSS_MB
        trace = " ".join(f"{v:.0f}" for v in r["rss"])
        print(f"  {method:16s} peak {r['peak_before']:7.1f} -> {r['peak_after']:7.1f} MB: growth {growth:5.1f} MB "
              f"[<= {GOAL_RSS_MB:.0f} MB: {verdict(ok)}]; RSS every {max(1, calls // 10)} calls: {trace} MB "
              f"({r['ms_per_call']:.1f} ms/call)")
        if not ok:
            problems.append(f"{device} {method}: RSS grew {growth:.1f} MB over {calls} calls")
    return problems


def bench_overlay(side: int = 1024, rounds: int = 20) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    m = rng.random((7, 7), dtype=np.float32)
    colored = overlay.colorize(m, "turbo", size=image.shape[:2])
    samples = interleaved({
        "colorize": lambda: overlay.colorize(m, "turbo", size=image.shape[:2]),
        "blend": lambda: overlay.blend(image, colored, 0.4),
        "overlay": lambda: overlay.overlay(image, m, 0.4, "turbo"),
    }, rounds=rounds)
    t = {name: median(samples, name) for name in samples}
    print(f"\n[cpu] overlay at {side}x{side}: colorize (once per map) {t['colorize'] * 1e3:.1f} ms, "
          f"blend (per opacity change) {t['blend'] * 1e3:.1f} ms [<= 16 ms: {verdict(t['blend'] <= 0.016)}], "
          f"both in one call {t['overlay'] * 1e3:.1f} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=list(RESNETS), choices=RESNETS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=10, help="classifier classes (top-5 needs >= 5)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when present")
    ap.add_argument("--method-archs", nargs="*", default=["resnet50"], choices=RESNETS,
                    help="architectures for the per-method table (none: skip it)")
    ap.add_argument("--method-rounds", type=int, default=2)
    ap.add_argument("--scorecam-channels", type=int, default=64)
    ap.add_argument("--rss-calls", type=int, default=200, help="0 skips the RSS check")
    ap.add_argument("--rss-methods", nargs="+", default=["gradcam"], choices=METHODS)
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch (default: torch's choice); on a machine shared with "
                         "other jobs, 1 thread gives far steadier timings")
    ap.add_argument("--gates-only", action="store_true",
                    help="only the cost of recording the attention gates (SE / s_se in --archs)")
    ap.add_argument("--perturbation-only", action="store_true",
                    help="only DeepLIFT, occlusion and RISE per image / a forward (and DeepLIFT beside Captum's)")
    ap.add_argument("--lrp-only", action="store_true", help="only LRP's cost (ResNet variants in --archs)")
    ap.add_argument("--lrp-batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--lrp-composites", nargs="+", default=None, help="default: all of them")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true",
                    help="small and fast: 112 px, batches 1 and 4, 2 rounds, 20 RSS calls")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.batches, args.rounds, args.rss_calls = 112, [1, 4], 2, 20
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child:
        print(json.dumps(rss_child(*json.loads(args.rss_child))))
        return 0
    if args.classes < 5:
        ap.error("--classes must be at least 5 (top-5)")
    devices = [torch.device(d) for d in (args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}; devices: {', '.join(map(str, devices))}")
    problems: list[str] = []
    for device in devices:
        if args.perturbation_only:
            bench_perturbation(device, args.method_archs or ["resnet50"], args.size, args.classes, args.method_rounds)
            continue
        if args.lrp_only:
            problems += bench_lrp(device, args.archs, args.lrp_batches, args.size, args.classes, args.rounds,
                                  args.lrp_composites)
            continue
        if not args.gates_only:
            problems += bench_core(device, args.archs, args.batches, args.size, args.classes, args.rounds)
        gate_archs = [a for a in args.archs if a in ATTENTION_ARCHS]
        if gate_archs:
            problems += bench_gates(device, gate_archs, args.batches, args.size, args.classes, args.rounds)
        if args.gates_only:
            continue
        problems += bench_lrp(device, args.archs, args.lrp_batches, args.size, args.classes, args.rounds,
                              args.lrp_composites)
        if args.method_archs:
            bench_methods(device, args.method_archs, 1, args.size, args.classes, args.method_rounds,
                          args.scorecam_channels)
            bench_perturbation(device, args.method_archs, args.size, args.classes, args.method_rounds)
        if args.rss_calls > 0:
            problems += bench_rss(device, args.archs[0], args.size, args.classes, args.rss_calls, args.rss_methods,
                                  args.threads)
    if not (args.gates_only or args.lrp_only or args.perturbation_only):
        bench_overlay()
    print("\nsummary: " + ("every goal met" if not problems else "; ".join(problems)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
