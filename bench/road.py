"""ROAD imputation: ours (gcam_desktop.explain.road) against pytorch-grad-cam's NoisyLinearImputer,
side by side on the same image, map and percentages. Goal (issue 20): ours is not slower.

    python bench/road.py [--size 224] [--rounds 5]

Prints seconds per imputation for each and the ratio ours / reference, per removed percentage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    from gcam_desktop.explain.road import impute, removal_mask

    g = torch.Generator().manual_seed(0)
    image = torch.randn(3, args.size, args.size, generator=g)
    saliency = torch.rand(args.size, args.size, generator=g)
    reference = NoisyLinearImputer(noise=0.01)
    print(f"ROAD imputation, {args.size} x {args.size}, median of {args.rounds} interleaved rounds")
    print(f"{'removed':>8} {'ours s':>9} {'reference s':>12} {'ours / reference':>17}")
    for percentage in (10, 50, 90):
        remove = removal_mask(saliency, percentage, "morf")
        keep = (~remove).float()
        t = interleaved({"ours": lambda: impute(image, remove),
                         "reference": lambda: reference(image, keep)}, rounds=args.rounds)
        print(f"{percentage:>7}% {t['ours']:>9.3f} {t['reference']:>12.3f} {t['ours'] / t['reference']:>17.2f}")


if __name__ == "__main__":
    main()
