"""Forward cost of the three ResNet50 variants relative to resnet50, measured side by side.

Goals (issue 2): s_se_resnet50 <= 1.03x, se_resnet50 <= 1.10x resnet50. Also reports whether
channels_last memory format helps on this machine.

    python bench/models.py [--batch 8] [--rounds 5] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402

from gcam_desktop.models import build_model, pick_device  # noqa: E402
from gcam_desktop.models.names import RESNET_ARCHS as ARCHS  # noqa: E402

GOALS = {"resnet50": 1.0, "se_resnet50": 1.10, "s_se_resnet50": 1.03}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = pick_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} torch={torch.__version__}")
    models = {a: build_model(a, 12).eval().to(device) for a in ARCHS}
    for size in (128, 224):
        x = torch.randn(args.batch, 3, size, size, device=device)
        xcl = x.contiguous(memory_format=torch.channels_last)

        def fwd(model, inp):
            def run():
                with torch.no_grad():
                    model(inp)
                sync()
            return run

        times = interleaved({a: fwd(m, x) for a, m in models.items()}, rounds=args.rounds)
        print(f"\n{size}x{size}: arch, parameters, ms/batch, ratio to resnet50 (goal)")
        for a in ARCHS:
            params = sum(p.numel() for p in models[a].parameters())
            ratio = times[a] / times["resnet50"]
            verdict = "ok" if ratio <= GOALS[a] else "over goal"
            print(f"  {a:15s} {params:>11,d} {times[a] * 1e3:9.1f} ms  {ratio:5.3f}x (<= {GOALS[a]:.2f}: {verdict})")
        cl_model = build_model("resnet50", 12).eval().to(device).to(memory_format=torch.channels_last)
        cl_model.load_state_dict(models["resnet50"].state_dict())
        cl = interleaved({"contiguous": fwd(models["resnet50"], x), "channels_last": fwd(cl_model, xcl)},
                         rounds=args.rounds)
        ratio = cl["channels_last"] / cl["contiguous"]
        print(f"  channels_last / contiguous (resnet50): {ratio:.3f}x -> "
              f"{'helps' if ratio < 0.97 else 'does not help'} on this {device.type}")


if __name__ == "__main__":
    main()
