"""What the sanity cascade costs a user, as a ratio measured in the same run (issue 20).

For one image and one model: the model-parameter randomisation cascade (explain/sanity.py; six
stages for a ResNet50) over every method of the engine (`METHODS`, whatever it holds when this
runs), against explaining the image once with each method. Goal: the cascade <= 6 x one
explanation per method, for every method and in total.

Per method: its share of the cascade (its explanations at every step and their similarity
measures, timed inside the one cascade run) over one explanation of it. In total: the whole
cascade (the original maps, then every step: model copy, randomisation, explanations,
similarities) over one explanation per method; and the same with the original maps given (what
the app's Compare tab holds already, so the Quality tab's Sanity section does not redo them).

Models: the three ResNet50 variants at 224 px (random weights: the cost does not depend on
them) and the demo checkpoints (gcam-train demo) at their own size where they exist. The
many-pass methods run with fewer samples than their defaults (printed: SmoothGrad 8 samples,
Integrated Gradients 8 steps, Score-CAM 32 channels, RISE 100 masks, occlusion stride 32; both
sides of every ratio use the same options, and their cost is linear in them): `--full-options`
for the defaults (Score-CAM then at 64 channels), which takes several times longer.

    python bench/sanity.py [--quick] [--archs resnet50 ...] [--size 224] [--methods ...] [--no-demo]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gcam_desktop.explain import METHODS, explain  # noqa: E402
from gcam_desktop.explain import sanity  # noqa: E402
from gcam_desktop.explain.runnable import why_not_runnable  # noqa: E402
from gcam_desktop.models import build_model  # noqa: E402
from gcam_desktop.paths import DEMO_ARCHS  # noqa: E402

GOAL = 6.0


def clock() -> float:
    """CPU seconds of this process (all its threads): on a shared machine, wall time measures the
    neighbours; on a GPU, wall time (`--wall`)."""
    if not WALL:
        return time.process_time()
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # a GPU's work is done when it is timed
    return time.perf_counter()


WALL = False
LIGHT = {"smoothgrad": {"samples": 8}, "integrated_gradients": {"steps": 8}, "scorecam": {"max_channels": 32},
         "rise": {"masks": 100}, "occlusion": {"stride": 32}}
FULL = {"scorecam": {"max_channels": 64}}


def models(archs, size, demo: bool):
    for arch in archs:
        torch.manual_seed(0)
        yield f"{arch} {size} px (random weights)", build_model(arch, 6).eval(), size
    if not demo:
        return
    from gcam_desktop.models import load_checkpoint
    from gcam_desktop.paths import demo_checkpoint

    for arch in DEMO_ARCHS:
        path = demo_checkpoint(arch)
        if path.is_file():
            model, meta = load_checkpoint(path)
            yield f"{arch} demo ({meta['input_size']} px)", model.eval(), int(meta["input_size"])
        else:
            print(f"(no demo checkpoint {path}: make them with `gcam-train demo`)")


class CascadeClock:
    """Times the cascade from inside: each explain() call, and each similarity measure, is
    charged to its method; what is left (copying and randomising the model) is shared."""

    def __init__(self):
        self.explain_s = defaultdict(float)
        self.similarity_s = defaultdict(float)
        self.original_s = {}  # the first call of each method: its original map
        self.current = None

    def explain(self, model, image, method, **kw):
        t0 = clock()
        out = explain(model, image, method, **kw)
        took = clock() - t0
        if method in self.original_s:
            self.explain_s[method] += took
        else:
            self.original_s[method] = took
        self.current = method
        return out

    def similarity(self, a, b):
        t0 = clock()
        out = similarity_impl(a, b)
        self.similarity_s[self.current] += clock() - t0
        return out


similarity_impl = sanity.compare


def measure(model, image, methods, options):
    """(once per method, the clock of one cascade from nothing, its wall time)."""
    target = int(explain(model, image, "gradcam").classes[0, 0])  # warm-up; the class every call explains
    once = {}
    for m in methods:
        t0 = clock()
        explain(model, image, m, targets=target, **options.get(m, {}))
        once[m] = clock() - t0
    timer = CascadeClock()
    sanity.compare = timer.similarity  # the cascade's own calls, timed
    try:
        t0 = clock()
        sanity.parameter_randomisation(model, image, methods, independent=False, options=options,
                                       explain_fn=timer.explain)
        wall = clock() - t0
    finally:
        sanity.compare = similarity_impl
    return once, timer, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="*", default=list(DEMO_ARCHS), help="ResNet50 variants at --size (none: the demo models alone)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="ResNet50 alone at --size, and the demo models")
    parser.add_argument("--no-demo", action="store_true", help="leave out the demo checkpoints")
    parser.add_argument("--full-options", action="store_true", help="the methods' default samples / steps")
    parser.add_argument("--wall", action="store_true", help="wall-clock time (default: this process's CPU time)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (then use --wall)")
    args = parser.parse_args()
    global WALL
    WALL = args.wall
    archs = args.archs[:1] if args.quick else args.archs
    options = FULL if args.full_options else LIGHT
    options = {m: o for m, o in options.items() if m in args.methods}
    print(f"sanity cascade / one explanation per method; {len(args.methods)} methods; goal <= {GOAL:g}; "
          f"options: {options}; {'wall' if WALL else 'CPU'} seconds; {args.device}, torch threads {torch.get_num_threads()}")
    for name, model, size in models(archs, args.size, not args.no_demo):
        model = model.to(args.device)
        image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(args.device)
        print(f"\n{name}")
        methods = []
        for m in args.methods:  # as gcam-evaluate does: a method the model cannot run is left out, said
            why = why_not_runnable(model, m, None, size, options.get(m))
            if why:
                print(f"  (leaving out {m}: {why[:100]}...)")
            else:
                methods.append(m)
        once, timer, wall = measure(model, image, methods, options)
        print(f"  {'method':<22} {'once s':>8} {'steps s':>10} {'ratio':>6}  (explain / similarity s; the steps after the original map)")
        for m in methods:  # the steps after the original map
            cost = timer.explain_s[m] + timer.similarity_s[m]
            print(f"  {m:<22} {once[m]:>8.3f} {cost:>10.3f} {cost / once[m]:>6.2f}  "
                  f"({timer.explain_s[m]:.3f} / {timer.similarity_s[m]:.3f})")
        total_once, originals = sum(once.values()), sum(timer.original_s.values())
        shared = wall - originals - sum(timer.explain_s.values()) - sum(timer.similarity_s.values())
        print(f"  {'total, from nothing':<22} {total_once:>8.2f} {wall:>10.2f} {wall / total_once:>6.2f}"
              f"  (copy + randomise {shared:.2f} s)")
        given = wall - originals
        print(f"  {'total, originals given':<22} {total_once:>8.2f} {given:>10.2f} {given / total_once:>6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
