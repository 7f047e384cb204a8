"""What `gcam-train --shuffle-labels` gives (issue 20's data randomisation test), side by side
with the same run on the true labels: same split, order, flips and initial weights.

Expected: with shuffled labels the model fits its own (shuffled) training labels (report.json's
`train_accuracy_eval`, eval mode) while validation and test accuracy stay near chance
(1 / classes); with the true labels both are high. Printed as ratios to chance. Not a timing.

    python bench/shuffle_labels.py [--arch small_cnn] [--classes 6] [--per-class 30] [--size 32]
                                   [--epochs 60] [--batch 8] [--lr 2e-3]

With few classes and few images one run can land well above chance on validation (3 classes x
40 images: 0.62 against 0.33): the model tends to give each class's look-alike images one
shuffled label, so whole classes are right or wrong together. Six classes keep that noise small.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as gcam-train sets it

from training import TrainConfig, train  # noqa: E402
from training.synth import make_synthetic  # noqa: E402


def one_run(args: argparse.Namespace, data: Path, out: Path, shuffle: bool) -> dict:
    cfg = TrainConfig(data=str(data), archs=[args.arch], out=str(out), epochs=args.epochs, batch_size=args.batch,
                      lr=args.lr, input_size=args.size, seed=args.seed, val_fraction=0.2, test_fraction=0.2,
                      dup_check=False, shuffle_labels=shuffle)
    train(cfg)
    report = json.loads((out / args.arch / "report.json").read_text(encoding="utf-8"))
    last_val = report["history"][-1]["val_acc"]
    return {"train": report["train_accuracy_eval"], "val": last_val, "test": report["accuracy"],
            "note": report.get("note")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="gcam-shuffle-bench-") as tmp:
        data = Path(tmp) / "data"
        make_synthetic(data, classes=args.classes, per_class=args.per_class, size=args.size, seed=3)
        rows = {label: one_run(args, data, Path(tmp) / label, shuffle)
                for label, shuffle in (("true labels", False), ("shuffled labels", True))}
    chance = 1.0 / args.classes
    print(f"{args.arch}, {args.classes} classes x {args.per_class} synthetic images at {args.size} px, "
          f"{args.epochs} epochs; chance {chance:.3f}")
    print(f"{'labels':<16} {'train (eval)':>12} {'val, last':>10} {'test':>6} {'val / chance':>13}")
    for label, r in rows.items():
        print(f"{label:<16} {r['train']:>12.3f} {r['val']:>10.3f} {r['test']:>6.3f} {r['val'] / chance:>13.2f}")
    if rows["shuffled labels"]["note"]:
        print(rows["shuffled labels"]["note"])


if __name__ == "__main__":
    main()
