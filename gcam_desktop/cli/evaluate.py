"""gcam-evaluate: explanation quality per model and method over a labelled image folder. Qt-free.

For every image (ImageFolder layout: the parent folder names the class) and every checkpoint,
each method's map for the target class (the true class where the folder names one, else the
prediction) is scored with the metrics of `gcam_desktop.explain.metrics`: pointing game and
energy in mask where an object mask exists, deletion / insertion AUC, average drop and
increase in confidence. The report gives per model and method the mean and a 95 % interval of
each (Wilson for yes / no rates, BCa bootstrap for means), accuracy, agreement between models
(same prediction, IoU of the top-20 % regions), and answers whether SE / s_se attention points
at the object more often than the plain ResNet50 (paired over the same images: exact McNemar
test, Holm-corrected over the report's comparisons; evaluation.paired). Written as report.json,
report.md and PNG curves.

`--attention off` also scores every SE / s_se model with its attention switched off (each gate
replaced by 1, the same model object, per call), and the report answers, paired over the same
images, whether the attention makes the maps point at the object more often (pointing game,
energy in mask, deletion / insertion). `--attention mean` holds each gate at its mean over
`--reference DIR` (default: the data folder) instead.

Masks: `--masks DIR` mirrors the data folder (DIR/<class>/<name>.png); without it, the
synthetic set's layout is found by itself (OUT/images/<class>/x.png beside
OUT/masks/<class>/x.png). Object = any pixel not 0 in some colour channel, or alpha > 0 where
the alpha varies (evaluation.masks has the whole rule). A mask of another size but the image's
aspect ratio is scaled to the image; one of another aspect ratio, or an empty one, is not used
(each said per file).

One run at a time writes into an output folder (gcam_desktop.run_folder); a second is refused.
Exit status: 0 the report is written; 1 nothing to report, or the output folder cannot be
written or is in use by another run; 2 a usage error (cli.usage: one line and a pointer to --help).

This module is the command line only; the work is in `gcam_desktop.evaluation`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from gcam_desktop.cli.usage import Parser, UsageError, float_between, int_at_least, report
from gcam_desktop.evaluation.inputs import (attention_variants, load_entries, mask_path_for, name_entries,
                                            select_images, split_dataset_root)
from gcam_desktop.evaluation.masks import RULE as MASK_RULE
from gcam_desktop.evaluation.report import build_report, write_report
from gcam_desktop.evaluation.scoring import SkippedImage, score_images
from gcam_desktop.explain import metrics as M
from gcam_desktop.explain.baselines import BASELINES
from gcam_desktop.explain.road import DEFAULT_PERCENTAGES
from gcam_desktop.files import WriteError
from gcam_desktop.quiet import quiet_library_warnings
from gcam_desktop.run_folder import RunFolder

PROG = "gcam-evaluate"


def _parser() -> Parser:
    ap = Parser(
        prog=PROG,
        description="Score explanation maps of one or more checkpoints over a labelled image folder "
                    "(deletion / insertion, pointing game, energy in mask, average drop / increase) and "
                    "write report.json, report.md and PNG curves.")
    ap.add_argument("data", help="image folder with one subfolder per class (or a synthetic set's folder)")
    ap.add_argument("-c", "--checkpoint", nargs="+", default=[], metavar="CKPT",
                    help="checkpoints to compare (or ARCH=CHECKPOINT, checked to hold that architecture); "
                         "imagenet:resnet50 / imagenet:se_resnet50 for ImageNet weights")
    ap.add_argument("--demo", action="store_true", help="add the demo checkpoints that exist")
    ap.add_argument("--masks", type=Path, help=f"object masks mirroring DATA: MASKS/<class>/<name>.png; {MASK_RULE}; "
                                               "an empty mask is not used")
    ap.add_argument("--methods", nargs="+", default=["gradcam"], help="explanation methods (default: gradcam)")
    ap.add_argument("--option", action="append", default=[], metavar="METHOD:NAME=VALUE",
                    help="an option of one of --methods, e.g. rise:masks=100, lrp:composite=epsilon, "
                         "occlusion:stride=8 (repeat for more); in the scores and the sanity checks alike")
    ap.add_argument("--layer", help="layer to explain (default: each model's default layer)")
    ap.add_argument("--steps", type=int_at_least(1), default=20, help="deletion / insertion steps (default 20)")
    ap.add_argument("--target", choices=("true", "pred"), default="true",
                    help="explain the true class (from the folder name; the default) or the prediction")
    ap.add_argument("--per-class", type=int_at_least(1), metavar="N",
                    help="score at most N (at least 1) images of each class folder (default: all)")
    ap.add_argument("--limit", type=int_at_least(1), metavar="N",
                    help="score at most N (at least 1) images in all (default: all)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=8, help="images explained together (default 8)")
    ap.add_argument("--forward-batch", type=int_at_least(1), default=M.DEFAULT_BATCH_SIZE,
                    help=f"perturbed pictures per forward (default {M.DEFAULT_BATCH_SIZE})")
    ap.add_argument("--attention", choices=("on", "off", "mean"), default="on",
                    help="off: also score each SE / s_se model with its attention switched off (every gate 1) "
                         "and compare, paired; mean: with each gate held at its mean over --reference")
    ap.add_argument("--reference", type=Path,
                    help="images to average the gates over for --attention mean (default: the data folder)")
    ap.add_argument("--baselines", nargs="+", choices=BASELINES, default=list(BASELINES), metavar="NAME",
                    help="maps that know nothing of the model, scored like the methods and tested against "
                         f"them ({', '.join(BASELINES)}; default all)")
    ap.add_argument("--no-baselines", action="store_true", help="do not score the baseline maps")
    ap.add_argument("--road", nargs="*", type=float_between(0, 100, low_open=True, high_open=True),
                    default=None, metavar="PCT",
                    help="also score ROAD (remove and debias) at these removal percentages, each in (0, 100) "
                         f"(no value: {' '.join(f'{p:g}' for p in DEFAULT_PERCENTAGES)}). Off by default: its "
                         "imputation solves a sparse system per percentage and costs seconds per map at 224 px")
    ap.add_argument("--sanity", action="store_true",
                    help="add the sanity checks: cascading parameter randomisation and class sensitivity per "
                         "model and method, with a figure of the cascade curves")
    ap.add_argument("--sanity-images", type=int_at_least(1), default=4, metavar="N",
                    help="images the sanity checks run on, the first N scored (at least 1; default 4)")
    ap.add_argument("--sanity-independent", action="store_true",
                    help="also randomise one stage at a time (the independent test; twice the work)")
    ap.add_argument("--sanity-data", metavar="CKPT",
                    help="a checkpoint of the same architecture trained on shuffled labels (gcam-train "
                         "--shuffle-labels): each method's maps are compared with the real model's (implies --sanity)")
    ap.add_argument("--strategies", action="store_true",
                    help="find each model's strategies (SpRAy): cluster each class's maps (the first method) and "
                         "write strategies.json, one montage PNG per cluster and a report section; with several "
                         "models, each clustering is compared with the first ResNet50's")
    ap.add_argument("--strategies-class", metavar="CLASS",
                    help="only this class (a name, as the models call it; default: every class)")
    ap.add_argument("--strategies-k", type=int_at_least(1), metavar="K",
                    help="clusters per class (default: chosen by the eigengap)")
    ap.add_argument("--strategies-keep-duplicates", action="store_true",
                    help="cluster near-duplicates as they are (default: each group folded into its first image, "
                         "by the deep hash, so copies make no cluster of their own)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ap.add_argument("--resamples", type=int_at_least(1), default=2000, help="bootstrap resamples (default 2000)")
    ap.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the bootstrap and of the metrics' "
                                                                   "tie-breaking order (default 0)")
    ap.add_argument("--hash-model", metavar="CKPT", help="ResNet50 checkpoint for the near-duplicate check "
                    "(default: the one the checkpoint's training run used, else the program's choice)")
    ap.add_argument("--no-dup-check", action="store_true", help="do not count scored images with a near-duplicate "
                    "in the training split of the checkpoint's run")
    ap.add_argument("-o", "--out", type=Path, default=Path("gcam-evaluation"),
                    help="output folder (one run at a time: a second run into it is refused)")
    return ap


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _refuse(message: str) -> UsageError:
    return UsageError(f"{PROG}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        quiet_library_warnings()
        checkpoints = _check_arguments(args)
        from gcam_desktop.files import check_writable

        check_writable(args.out)  # before any scoring: an unwritable --out fails now, not after the run
        with RunFolder(args.out, PROG):  # the whole run: a second one into the folder is refused
            return _run(args, checkpoints)
    except UsageError as exc:
        return report(exc, PROG)
    except WriteError as exc:  # --out unwritable, or in use by another run (FolderBusy)
        _say(str(exc))
        return 1
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM while ImageNet weights download: one line
        _say(str(exc) or "interrupted; no report written")
        return 128 + getattr(exc, "signum", 2)


def _check_arguments(args) -> list[str]:
    """What can be checked before any model loads; returns the checkpoints to load."""
    from gcam_desktop.files import why_missing

    args.data = Path(args.data).expanduser()
    if not args.data.is_dir():
        raise _refuse(f"{args.data}: {why_missing(args.data, 'folder')}")
    if args.masks is not None and not args.masks.is_dir():
        raise _refuse(f"{args.masks}: {why_missing(args.masks, 'masks folder')}")
    from gcam_desktop.explain import METHODS

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise _refuse(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    from gcam_desktop.cli.method_options import parse_method_options

    try:
        args.method_options = parse_method_options(args.option, args.methods)
    except ValueError as exc:
        raise _refuse(str(exc)) from None
    args.root, args.masks_dir = split_dataset_root(args.data, args.masks)
    if args.attention == "mean":
        reference = (args.reference or args.root).expanduser()
        if not reference.is_dir():
            raise _refuse(f"{reference}: {why_missing(reference, 'reference folder')}")
    checkpoints = list(args.checkpoint)
    if args.demo:
        from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint

        found = [str(demo_checkpoint(a)) for a in DEMO_ARCHS if demo_checkpoint(a).is_file()]
        if not found:
            _say("no demo checkpoints yet; make them with `gcam-train demo`")
        checkpoints += found
    if not checkpoints:
        raise _refuse("no checkpoints: pass --checkpoint FILE [FILE ...] or --demo")
    args.sanity = args.sanity or args.sanity_data is not None
    args.baselines = [] if args.no_baselines else list(dict.fromkeys(args.baselines))
    args.road = [] if args.road is None else sorted(set(args.road or DEFAULT_PERCENTAGES))
    return checkpoints


def _run(args, checkpoints: list[str]) -> int:
    entries, device = _load_models(args, checkpoints)
    args.methods = _runnable_methods(args, entries)
    shuffled = _load_shuffled(args, entries, device)  # refused now, before any scoring
    paths = select_images(args.root, args.per_class, args.limit,
                          on_error=lambda p, msg: _say(f"cannot read folder {p}: {msg}"))
    if not paths:
        raise _refuse(f"{args.root}: no images found")
    print(f"scoring {len(paths)} images from {args.root} with {', '.join(e.name for e in entries)} on {device}; "
          f"masks: {args.masks_dir or 'auto (images/ -> masks/)'}", file=sys.stderr)
    leaks = _near_duplicates(args, entries, paths, device)
    scores, skipped = _score(args, entries, paths)
    if not scores:
        _say("every image failed to load; nothing to report")
        return 1
    mask_root = args.masks_dir or next((Path(s.mask).parent.parent for s in scores if s.mask), None)
    result = build_report(scores, skipped, entries, args.methods, data=str(args.data),
                          masks=str(mask_root) if mask_root else None, layer=args.layer, steps=args.steps,
                          target=args.target, resamples=args.resamples, seed=args.seed,
                          attention=args.attention,
                          reference=str(args.reference or args.root) if args.attention == "mean" else None,
                          baselines=args.baselines, road_percentages=args.road, options=args.method_options)
    if leaks:
        result["near_duplicates"] = leaks
    if args.sanity:
        result["sanity"] = _sanity(args, entries, [s.path for s in scores], shuffled)
    if args.strategies:
        result["strategies"] = _strategies(args, entries, [s.path for s in scores])
    return _write(args, result)


def _strategies(args, entries, paths: list[str]) -> dict:
    """--strategies: each model's clustering of each class's maps, written beside the report;
    the summary report.json and report.md carry."""
    from tqdm import tqdm

    from gcam_desktop.models.knowledge import class_index
    from gcam_desktop.strategies import compare, run_strategies
    from gcam_desktop.strategies.files import write_outputs

    models = [e for e in entries if e.base is None]
    # The baseline every other model is compared with: the first plain ResNet50, else the first model.
    models.sort(key=lambda e: e.arch != "resnet50")
    results = []
    for e in models:
        wanted = None
        if args.strategies_class is not None:
            wanted = class_index(e.meta, args.strategies_class)
            if wanted is None:
                _say(f"--strategies-class: {e.name} has no class {args.strategies_class!r}; its strategies are "
                     "not looked for")
                continue
        with tqdm(total=len(paths), desc=f"strategies {e.name}", unit="img", file=sys.stderr, disable=None) as bar:
            def progress(done, total, stage, bar=bar):
                bar.total, bar.n = total, done
                bar.set_description(f"strategies {e.name}: {stage}", refresh=True)

            result = run_strategies(paths, (e.name, e.model, e.meta), args.methods[0], args.layer, wanted,
                                    k=args.strategies_k, seed=args.seed, hash_model=args.hash_model,
                                    duplicates=not args.strategies_keep_duplicates,
                                    device=next(e.model.parameters()).device, progress=progress,
                                    on_error=lambda what, why: bar.write(f"{PROG}: strategies: {what}: {why}",
                                                                         file=sys.stderr))
        results.append(result)
    comparisons = [compare(cls, other, results[0].model, r.model)
                   for r in results[1:] for cls in results[0].classes
                   if (other := r.of_class(cls.class_index)) is not None]
    return write_outputs(results, comparisons, args.out)


def _load_shuffled(args, entries, device):
    """The --sanity-data checkpoint, refused in one line unless a scored model shares its architecture."""
    if not args.sanity_data:
        return None
    from gcam_desktop.models import CheckpointError

    try:
        [shuffled] = load_entries([args.sanity_data], device)
    except CheckpointError as exc:
        raise _refuse(f"argument --sanity-data: {exc}") from None
    archs = sorted({e.arch for e in entries})
    if shuffled.arch not in archs:
        raise _refuse(f"argument --sanity-data: {args.sanity_data} holds a {shuffled.arch}, but the models "
                      f"scored are {', '.join(archs)}; give a shuffled-labels checkpoint of the same architecture")
    shuffled.model.eval()
    return shuffled


def _sanity(args, entries, paths: list[str], shuffled) -> dict:
    """The sanity checks on the first --sanity-images scored images."""
    from tqdm import tqdm

    from gcam_desktop.evaluation.sanity_run import run_sanity
    from gcam_desktop.imaging import load_image

    side = max(int(e.meta.get("input_size", 224)) for e in entries)
    images = [load_image(p, min_size=(side, side)) for p in paths[:args.sanity_images]]
    models = [e for e in entries if e.base is None]
    with tqdm(total=len(models) * len(images), desc="sanity", unit="img", file=sys.stderr, disable=None) as bar:
        return run_sanity(entries, images, args.methods, layer=args.layer, independent=args.sanity_independent,
                          seed=args.seed, shuffled=shuffled, step=lambda: bar.update(1), options=args.method_options)


def _load_models(args, checkpoints: list[str]) -> tuple[list, object]:
    """The models to score (with their attention variants), on the device asked for."""
    from gcam_desktop.models import CheckpointError, pick_device

    try:
        device = pick_device(args.device)
    except (ValueError, RuntimeError) as exc:  # torch.device() says RuntimeError for an unknown name
        raise _refuse(f"argument --device: {exc}") from None
    entries = []
    for ckpt in checkpoints:  # one bad file is reported and left out; the others still run
        try:
            entries += load_entries([ckpt], device)
        except CheckpointError as exc:
            _say(f"skipping checkpoint {exc}")
    if not entries:
        raise _refuse("no usable checkpoint")
    for e, name in zip(entries, name_entries([(e.path or e.name, e.arch) for e in entries])):
        e.name = name
    if args.attention == "on":
        return entries, device
    try:
        switched = attention_variants(entries, args.attention, (args.reference or args.root).expanduser())
    except ValueError as exc:
        raise _refuse(str(exc)) from None
    if len(switched) == len(entries):
        _say(f"--attention {args.attention}: none of the models has attention gates "
             f"(only SE-ResNet50 and s_se-ResNet50 have); scoring them as they are")
    return switched, device


def _runnable_methods(args, entries) -> list[str]:
    """The methods every model can run at the layer asked for (explain.runnable, as gcam-explain
    asks it); a method one of them cannot run (CAM needs the layer that feeds the pooled linear
    head) is left out with one line, not a traceback halfway through the scoring."""
    from gcam_desktop.explain.runnable import why_not_runnable

    kept = []
    for method in args.methods:
        problems = [f"{e.name}: {why}" for e in entries
                    if (why := why_not_runnable(e.model, method, args.layer, int(e.meta.get("input_size", 224)),
                                                args.method_options.get(method)))]
        if problems:
            _say(f"leaving out {method}: {problems[0]}" + (f" (and {len(problems) - 1} more model(s))"
                                                            if len(problems) > 1 else ""))
        else:
            kept.append(method)
    if not kept:
        raise _refuse("none of the methods can run on these models; see the lines above")
    return kept


def _near_duplicates(args, entries, paths, device) -> list:
    if args.no_dup_check:
        return []
    from gcam_desktop.evaluation.leakage import near_duplicates_in_training, statement

    leaks = near_duplicates_in_training(entries, paths, args.hash_model, device=device, warn=_say)
    for r in leaks:
        print(statement(r), file=sys.stderr)
    return leaks


def _score(args, entries, paths) -> tuple[list, list]:
    """Every image scored; a skipped image and a mask rescaled, refused or empty are said per file."""
    from tqdm import tqdm

    scores, skipped = [], []
    with tqdm(total=len(paths), unit="img", file=sys.stderr, disable=None) as bar:
        for item in score_images(entries, paths, args.methods,
                                 masks_for=lambda p: mask_path_for(p, args.root, args.masks_dir),
                                 layer=args.layer, steps=args.steps, target=args.target,
                                 batch_size=args.batch_size, forward_batch=args.forward_batch, seed=args.seed,
                                 baselines=args.baselines, road_percentages=args.road,
                                 options=args.method_options):
            if isinstance(item, SkippedImage):
                bar.write(f"{PROG}: skipping {item.path}: {item.reason}", file=sys.stderr)
                skipped.append(item)
            else:
                if item.mask_note:
                    bar.write(f"{PROG}: {item.path}: {item.mask_note}", file=sys.stderr)
                scores.append(item)
            bar.update(1)
    return scores, skipped


def _write(args, result: dict) -> int:
    """The report files, then the answers on stdout and what the user should know on stderr."""
    from gcam_desktop.files import write_reason

    try:
        files = write_report(result, args.out)
    except OSError as exc:
        _say(str(exc) if isinstance(exc, WriteError) else
             f"cannot write the report to {args.out}: {write_reason(exc)}")
        return 1
    print(result["answer"])
    for m in result["models"]:
        if m.get("outputs_not_finite"):
            _say(f"{m['name']}: its output was not finite (NaN or infinite) on {m['outputs_not_finite']} of "
                 f"{result['images']} images; they give it no values (shown as –)")
    if not result["images_with_masks"] and args.masks is None:
        _say("no object masks found; give their folder with --masks DIR")
    if args.attention != "on":
        print(result["attention_answer"])
    from gcam_desktop.evaluation.baseline_tests import edge_statements
    from gcam_desktop.evaluation.report import METRIC_LABELS

    for line in edge_statements(result.get("baseline_tests", []), {k: v[0] for k, v in METRIC_LABELS.items()}):
        print(line)
    for m in (result.get("sanity") or {}).get("models", []):
        for method, b in m["methods"].items():
            v = b["verdict"]
            print(f"sanity: {method} on {m['name']}: {v['result']}" + (f" ({v['why']})" if v["why"] else ""))
    if result.get("near_duplicates"):
        from gcam_desktop.evaluation.leakage import statement

        for r in result["near_duplicates"]:
            print(statement(r))
    print(f"report: {files[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
