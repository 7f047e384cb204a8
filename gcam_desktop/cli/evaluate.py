"""gcam-evaluate: explanation quality per model and method over a labelled image folder. Qt-free.

For every image (ImageFolder layout: the parent folder names the class) and every checkpoint,
each method's map for the target class (the true class where the folder names one, else the
prediction) is scored with the metrics of `gcam_desktop.explain.metrics`: pointing game and
energy in mask where an object mask exists, deletion / insertion AUC, average drop and
increase in confidence. The report gives per model and method the mean and a 95 % percentile
bootstrap interval of each, accuracy, agreement between models (same prediction, IoU of the
top-20 % regions), and answers whether SE / s_se attention points at the object more often
than the plain ResNet50 (paired bootstrap over the same images). Written as report.json,
report.md and PNG curves.

`--attention off` also scores every SE / s_se model with its attention switched off (each gate
replaced by 1, the same model object, per call), and the report answers, paired over the same
images, whether the attention makes the maps point at the object more often (pointing game,
energy in mask, deletion / insertion). `--attention mean` holds each gate at its mean over
`--reference DIR` (default: the data folder) instead.

Masks: `--masks DIR` mirrors the data folder (DIR/<class>/<name>.png, 255 = object); without
it, the synthetic set's layout is found by itself (OUT/images/<class>/x.png beside
OUT/masks/<class>/x.png). A mask of another size but the image's aspect ratio is scaled to the
image (said per file); one of another aspect ratio is not used (said per file).

This module is the command line only; the work is in `gcam_desktop.evaluation`.
"""

from __future__ import annotations

import argparse
import sys
from gcam_desktop.quiet import quiet_library_warnings
from pathlib import Path
from typing import Sequence

from gcam_desktop.explain import metrics as M
from gcam_desktop.evaluation.inputs import (attention_variants, load_entries, mask_path_for, name_entries,
                                            select_images, split_dataset_root)
from gcam_desktop.evaluation.report import build_report, write_report
from gcam_desktop.evaluation.scoring import SkippedImage, score_images


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gcam-evaluate",
        description="Score explanation maps of one or more checkpoints over a labelled image folder "
                    "(deletion / insertion, pointing game, energy in mask, average drop / increase) and "
                    "write report.json, report.md and PNG curves.")
    ap.add_argument("data", help="image folder with one subfolder per class (or a synthetic set's folder)")
    ap.add_argument("-c", "--checkpoint", nargs="+", default=[], metavar="CKPT",
                    help="checkpoints to compare (or ARCH=CHECKPOINT, checked to hold that architecture); "
                         "imagenet:resnet50 / imagenet:se_resnet50 for ImageNet weights")
    ap.add_argument("--demo", action="store_true", help="add the demo checkpoints that exist")
    ap.add_argument("--masks", type=Path, help="object masks mirroring DATA: MASKS/<class>/<name>.png (255 = object)")
    ap.add_argument("--methods", nargs="+", default=["gradcam"], help="explanation methods (default: gradcam)")
    ap.add_argument("--layer", help="layer to explain (default: each model's default layer)")
    ap.add_argument("--steps", type=int, default=20, help="deletion / insertion steps (default 20)")
    ap.add_argument("--target", choices=("true", "pred"), default="true",
                    help="explain the true class (from the folder name; the default) or the prediction")
    ap.add_argument("--per-class", type=int, help="score at most N images of each class folder")
    ap.add_argument("--limit", type=int, help="score at most N images in all")
    ap.add_argument("--batch-size", type=int, default=8, help="images explained together (default 8)")
    ap.add_argument("--forward-batch", type=int, default=M.DEFAULT_BATCH_SIZE,
                    help=f"perturbed pictures per forward (default {M.DEFAULT_BATCH_SIZE})")
    ap.add_argument("--attention", choices=("on", "off", "mean"), default="on",
                    help="off: also score each SE / s_se model with its attention switched off (every gate 1) "
                         "and compare, paired; mean: with each gate held at its mean over --reference")
    ap.add_argument("--reference", type=Path,
                    help="images to average the gates over for --attention mean (default: the data folder)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hash-model", metavar="CKPT", help="ResNet50 checkpoint for the near-duplicate check "
                    "(default: the one the checkpoint's training run used, else the program's choice)")
    ap.add_argument("--no-dup-check", action="store_true", help="do not count scored images with a near-duplicate "
                    "in the training split of the checkpoint's run")
    ap.add_argument("-o", "--out", type=Path, default=Path("gcam-evaluation"), help="output folder")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # e.g. SIGINT / SIGTERM while ImageNet weights download: one line
        print(f"gcam-evaluate: {exc or 'interrupted; no report written'}", file=sys.stderr)
        return 128 + getattr(exc, "signum", 2)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    quiet_library_warnings()
    err = lambda msg: print(f"gcam-evaluate: {msg}", file=sys.stderr)  # noqa: E731
    data = Path(args.data).expanduser()
    if not data.is_dir():
        from gcam_desktop.files import why_missing

        err(f"{data}: {why_missing(data, 'folder')}")
        return 2
    if args.masks is not None and not args.masks.is_dir():
        from gcam_desktop.files import why_missing

        err(f"{args.masks}: {why_missing(args.masks, 'masks folder')}")
        return 2
    if args.steps < 1:
        err(f"--steps must be at least 1, not {args.steps}")
        return 2
    from gcam_desktop.files import WriteError, check_writable

    try:  # before any scoring: an unwritable --out fails now, not after the whole run
        check_writable(args.out)
    except WriteError as exc:
        err(str(exc))
        return 2
    checkpoints = list(args.checkpoint)
    if args.demo:
        from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint

        found = [str(demo_checkpoint(a)) for a in DEMO_ARCHS if demo_checkpoint(a).is_file()]
        if not found:
            err("no demo checkpoints yet; make them with `gcam-train demo`")
        checkpoints += found
    if not checkpoints:
        err("no checkpoints: pass --checkpoint FILE [FILE ...] or --demo")
        return 2

    from gcam_desktop.explain import METHODS
    from gcam_desktop.models import CheckpointError, pick_device

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        err(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        return 2
    try:
        device = pick_device(args.device)
    except ValueError as exc:
        err(str(exc))
        return 2
    entries = []
    for ckpt in checkpoints:  # one bad file is reported and left out; the others still run
        try:
            entries += load_entries([ckpt], device)
        except CheckpointError as exc:
            err(f"skipping checkpoint {exc}")
    if not entries:
        err("no usable checkpoint")
        return 2
    names = name_entries([(e.path or e.name, e.arch) for e in entries])
    for e, n in zip(entries, names):
        e.name = n

    root, masks_dir = split_dataset_root(data, args.masks)
    if args.attention != "on":
        reference = (args.reference or root).expanduser()
        if args.attention == "mean" and not reference.is_dir():
            err(f"{reference}: no such reference folder")
            return 2
        try:
            switched = attention_variants(entries, args.attention, reference)
        except ValueError as exc:
            err(str(exc))
            return 2
        if len(switched) == len(entries):
            err(f"--attention {args.attention}: none of the models has attention gates "
                f"(only SE-ResNet50 and s_se-ResNet50 have); scoring them as they are")
        entries = switched
    paths = select_images(root, args.per_class, args.limit,
                          on_error=lambda p, msg: err(f"cannot read folder {p}: {msg}"))
    if not paths:
        err(f"{root}: no images found")
        return 2
    print(f"scoring {len(paths)} images from {root} with {', '.join(e.name for e in entries)} on {device}; "
          f"masks: {masks_dir or 'auto (images/ -> masks/)'}", file=sys.stderr)

    leaks = []
    if not args.no_dup_check:
        from gcam_desktop.evaluation.leakage import near_duplicates_in_training, statement

        leaks = near_duplicates_in_training(entries, paths, args.hash_model, device=device, warn=err)
        for r in leaks:
            print(statement(r), file=sys.stderr)

    from tqdm import tqdm

    scores, skipped = [], []
    with tqdm(total=len(paths), unit="img", file=sys.stderr, disable=None) as bar:
        for item in score_images(entries, paths, args.methods,
                                 masks_for=lambda p: mask_path_for(p, root, masks_dir), layer=args.layer,
                                 steps=args.steps, target=args.target, batch_size=args.batch_size,
                                 forward_batch=args.forward_batch, seed=args.seed):
            if isinstance(item, SkippedImage):
                err(f"skipping {item.path}: {item.reason}")
                skipped.append(item)
            else:
                if item.mask_note:  # a mask rescaled or refused: said per file
                    bar.write(f"gcam-evaluate: {item.path}: {item.mask_note}", file=sys.stderr)
                scores.append(item)
            bar.update(1)
    if not scores:
        err("every image failed to load; nothing to report")
        return 1
    mask_root = masks_dir or (next((Path(s.mask).parent.parent for s in scores if s.mask), None))
    report = build_report(scores, skipped, entries, args.methods, data=str(data),
                          masks=str(mask_root) if mask_root else None, layer=args.layer, steps=args.steps,
                          target=args.target, resamples=args.resamples, seed=args.seed,
                          attention=args.attention,
                          reference=str(args.reference or root) if args.attention == "mean" else None)
    if leaks:
        report["near_duplicates"] = leaks
    try:
        files = write_report(report, args.out)
    except OSError as exc:
        from gcam_desktop.files import write_reason

        err(str(exc) if isinstance(exc, WriteError) else f"cannot write the report to {args.out}: {write_reason(exc)}")
        return 1
    print(report["answer"])
    if not report["images_with_masks"] and args.masks is None:
        err("no object masks found; give their folder with --masks DIR")
    if args.attention != "on":
        print(report["attention_answer"])
    for r in leaks:
        print(statement(r))
    print(f"report: {files[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
