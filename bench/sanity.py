"""What the sanity cascade costs a user, as a ratio measured in the same run (issue 20).

For one image and one model: the model-parameter randomisation cascade over every method of the
engine (six stages for a ResNet50), against explaining the image once with each method.
Goal: the cascade <= 6 x one explanation per method. Two cascade figures are printed: starting
from nothing, and with the original maps given (what the app's Compare tab already holds).
Models: the three ResNet50 variants at 224 px (random weights: the cost does not depend on
them) and the demo checkpoints at their own size where they exist.

    python bench/sanity.py [--archs resnet50 ...] [--size 224] [--methods gradcam saliency ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gcam_desktop.explain import METHODS, explain  # noqa: E402
from gcam_desktop.explain.sanity import parameter_randomisation  # noqa: E402
from gcam_desktop.models import build_model  # noqa: E402
from gcam_desktop.paths import DEMO_ARCHS  # noqa: E402

GOAL = 6.0


def models(archs, size):
    for arch in archs:
        torch.manual_seed(0)
        yield f"{arch} {size} px (random weights)", build_model(arch, 6).eval(), size
    from gcam_desktop.models import load_checkpoint
    from gcam_desktop.paths import demo_checkpoint

    for arch in DEMO_ARCHS:
        path = demo_checkpoint(arch)
        if path.is_file():
            model, meta = load_checkpoint(path)
            yield f"{arch} demo ({meta['input_size']} px)", model.eval(), int(meta["input_size"])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(DEMO_ARCHS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    print(f"sanity cascade / one explanation per method ({len(args.methods)} methods), goal <= {GOAL:g}")
    print(f"{'model':<40} {'once s':>8} {'cascade s':>10} {'ratio':>6} {'given s':>8} {'ratio':>6}")
    for name, model, size in models(args.archs, args.size):
        image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        explain(model, image, "gradcam")  # warm-up: first-call costs are not the cascade's
        once, originals = timed(lambda: {m: explain(model, image, m, targets=None) for m in args.methods})
        target = int(originals[args.methods[0]].classes[0, 0])
        originals = {m: explain(model, image, m, targets=target) for m in args.methods}
        cascade, _ = timed(lambda: parameter_randomisation(model, image, args.methods, independent=False))
        given, _ = timed(lambda: parameter_randomisation(model, image, args.methods, independent=False,
                                                         originals=originals))
        print(f"{name:<40} {once:>8.2f} {cascade:>10.2f} {cascade / once:>6.2f} {given:>8.2f} {given / once:>6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
