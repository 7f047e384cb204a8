"""Deletion + insertion of one 224x224 image relative to the forwards they need, side by side.

The two curves of S steps need 2*S perturbed pictures (the unperturbed end of each curve is
the image itself, whose probabilities the explanation already has). The reference is a
batched torch.no_grad() forward of exactly those 2*S pictures, prepared beforehand, in the same
batches. Goal (issue 7): ratio <= 1.10 for S = 20 and 50 on ResNet50: ordering the pixels,
building the pictures and reading the probabilities add next to nothing.

    python bench/metrics.py [--steps 20 50] [--rounds 3] [--device auto] [--batch-size 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402

from gcam_desktop.explain import metrics as M  # noqa: E402
from gcam_desktop.models import build_model, pick_device  # noqa: E402

GOAL = 1.10


class NullModel(torch.nn.Module):
    """Same logits shape, next to no compute: times everything the metric does besides forwards."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.head = torch.nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1, 0, 0] + self.head


def perturbed_pictures(x: torch.Tensor, m: torch.Tensor, steps: int) -> torch.Tensor:
    """The 2*S pictures the two curves need, built independently of the metric's code path."""
    h, w = x.shape[-2:]
    ranks = M.pixel_ranks(m).view(1, 1, h, w)
    counts = M.step_counts(h * w, steps)
    blurred = M.gaussian_blur(x)
    deleted = [torch.where(ranks < int(c), torch.zeros_like(x), x) for c in counts[1:]]
    inserted = [torch.where(ranks < int(c), x, blurred) for c in counts[:-1]]
    return torch.cat(deleted + inserted)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=0, help="pictures per forward (0: all 2*S at once)")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    device = pick_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = build_model("resnet50", 12).eval().to(device)
    x = torch.randn(1, 3, args.size, args.size, device=device)
    # A smooth map like a real CAM (7x7 upsampled), so the order has structure.
    m = F.interpolate(torch.rand(1, 1, 7, 7), size=(args.size, args.size), mode="bilinear")[:, 0].to(device)
    with torch.no_grad():
        clean = torch.softmax(model(x), 1)  # as Explanation.probs would hand it over
    print(f"device={device} threads={torch.get_num_threads()} size={args.size} torch={torch.__version__}")
    null = NullModel(12).to(device)
    print("steps  batch  pictures  metric ms  forward ms  ratio (goal <= 1.10)  non-forward ms  share")
    for steps in args.steps:
        bs = args.batch_size or 2 * steps
        pictures = perturbed_pictures(x, m, steps)

        def metric():
            M.deletion_insertion(model, x, m, steps=steps, probs=clean, batch_size=bs)
            sync()

        def forward():
            with torch.no_grad():
                for i in range(0, pictures.shape[0], bs):
                    model(pictures[i:i + bs])
            sync()

        # Same numbers out of both paths: the reference really is what the metric runs.
        with torch.no_grad():
            ref = torch.softmax(model(pictures), 1)[:, clean.argmax(1)].view(-1).cpu().double()
        got = M.deletion_insertion(model, x, m, steps=steps, probs=clean, batch_size=bs)
        mine = torch.cat([got["deletion"].probs[0, 1:], got["insertion"].probs[0, :-1]])
        assert torch.allclose(mine, ref, atol=1e-4), "metric and reference see different pictures"

        def bookkeeping():
            M.deletion_insertion(null, x, m, steps=steps, probs=clean, batch_size=bs)
            sync()

        t = interleaved({"metric": metric, "forward": forward}, rounds=args.rounds)
        # The metric's own work alone (ordering, pictures, read-out) with the forwards made
        # trivial: a second view of the overhead that machine noise cannot blur.
        extra = interleaved({"bookkeeping": bookkeeping}, rounds=max(5, args.rounds))["bookkeeping"]
        ratio = t["metric"] / t["forward"]
        verdict = "ok" if ratio <= GOAL else "over goal"
        print(f"{steps:5d}  {bs:5d}  {pictures.shape[0]:8d}  {t['metric'] * 1e3:9.1f}  "
              f"{t['forward'] * 1e3:10.1f}  {ratio:5.3f}x ({verdict:9s})  {extra * 1e3:14.1f}  "
              f"{extra / t['forward']:5.1%}")


if __name__ == "__main__":
    main()
