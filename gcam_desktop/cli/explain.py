"""gcam-explain: explain folders of images with one or more models, headless.

    gcam-explain --weights resnet50.pt se_resnet50.pt --method gradcam --top-k 3 --out maps/ photos/

Writes, per image and model, the overlay PNG and the raw map (.npy, the layer's resolution,
before normalisation) under OUT/<model>/, and one OUT/predictions.csv. A bad image is
reported by name and skipped; the exit status is 1 if anything failed or no map was written,
2 for a usage error, 130 / 143 after Ctrl+C / SIGTERM (the finished images' rows are kept in
predictions.csv, which is written as images finish).

The work is `gcam_desktop.batch.explain_files.explain_paths`, which the app's batch export calls too.
torch is imported only once the arguments are read, so `--help` is instant.

Several processes (`--nproc-per-node N`, or started by torchrun): each explains its share of
the batches on its own device (GPU of its local rank, or the CPU); the files and predictions.csv
are those of one process (see gcam_desktop/distributed.py).
"""

from __future__ import annotations

import argparse
import ast
import sys
from gcam_desktop.quiet import quiet_library_warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from gcam_desktop.batch.explain_files import ModelSpec, explain_paths
from gcam_desktop.explain import METHODS
from gcam_desktop.explain.overlay import COLORMAPS
from gcam_desktop.models.pretrained_refs import split_arch_ref


# -------------------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gcam-explain",
        description="Explain images with one or more classifiers: overlay PNGs, raw maps (.npy) "
                    "and predictions.csv under --out. Several --weights compare models on the "
                    "same images.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="images, or folders searched recursively")
    p.add_argument("--weights", nargs="+", action="extend", required=True, metavar="ARCH_OR_CHECKPOINT",
                   help="checkpoint files (or ARCH=CHECKPOINT, checked to hold that architecture); "
                        "imagenet:resnet50 (torchvision) or imagenet:se_resnet50 (timm) "
                        "for ImageNet weights, taken from the torch / Hugging Face cache or downloaded once; "
                        "or architecture names for randomly initialised models (for trying the tool only)")
    p.add_argument("--method", default="gradcam", choices=METHODS, help="default: %(default)s")
    p.add_argument("--layer", help="layer to explain (CAM methods; default: each model's default layer)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--target", type=_class, metavar="N_OR_NAME",
                       help="explain class N (an index) or NAME (looked up in each model, e.g. tabby) "
                            "for every image")
    which.add_argument("--top-k", type=int, default=1, metavar="K",
                       help="explain the K most probable classes of each image (default: 1)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: 8)")
    p.add_argument("--cmap", default="turbo", choices=COLORMAPS, help="overlay colour map (default: turbo)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity 0..1 (default: 0.5)")
    p.add_argument("--max-side", type=int, default=1024,
                   help="shrink overlays to this many pixels on the long side; 0 keeps the size")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a method option, e.g. samples=50 (smoothgrad), steps=64 "
                        "(integrated_gradients), max_channels=256 (scorecam)")
    p.add_argument("--num-classes", type=int, default=1000,
                   help="classes of a randomly initialised model (architecture name only)")
    p.add_argument("--input-size", type=int, default=224,
                   help="input size of a randomly initialised model (architecture name only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="explain in N processes on this machine (one per GPU), started through "
                        "torch.distributed.run as torchrun would; outputs as from one process. Under torchrun, "
                        "leave this out")
    return p


def _class(text: str) -> int | str:
    """--target: an index, or a class name (models with other class sets each find their own)."""
    return int(text) if text.lstrip("-").isdigit() else text


def _parse_options(items: Sequence[str], parser: argparse.ArgumentParser, method: str) -> dict[str, Any]:
    from gcam_desktop.explain.engine import method_options

    valid = method_options(method)
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            parser.error(f"--option {item!r}: expected NAME=VALUE")
        if name not in valid:
            takes = ", ".join(f"{k} (default {v!r})" for k, v in valid.items()) or "none"
            parser.error(f"--option {name}: {method} has no such option; its options: {takes}")
        try:
            options[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[name] = value  # a bare word, e.g. baseline=zeros
    return options


def load_models(weights: Sequence[str], device, num_classes: int, input_size: int,
                warn: Callable[[str], None], fail: Callable[[str, str], None]) -> list[ModelSpec]:
    """Models for the --weights arguments: architecture names (random weights, with a
    warning) and checkpoint files. Display names: the architecture, or the file's stem."""
    from gcam_desktop.models import ARCHS, CheckpointError, build_model, is_pretrained_ref, load_checkpoint, make_meta

    specs: list[ModelSpec] = []
    for given in weights:
        arch, item = split_arch_ref(given)  # ARCH=CHECKPOINT, as gcam-desktop takes it: checked on load
        path = Path(item)
        if item in ARCHS and not path.exists():
            warn(f"warning: {item!r} is an architecture name, so this model has random, untrained "
                 f"weights and its maps show no learned evidence; pass a checkpoint file to "
                 f"explain a trained model")
            model = build_model(item, num_classes).eval().to(device)
            meta = make_meta(item, [f"class {i}" for i in range(num_classes)], input_size=input_size)
            name = item
        else:
            pretrained = is_pretrained_ref(item)
            try:
                # "imagenet:ARCH" is found in the cache or downloaded, with a bar on a terminal.
                model, meta = load_checkpoint(item if pretrained else path, map_location=device, expect_arch=arch)
            except CheckpointError as exc:
                hint = (f" (nor an architecture name: {', '.join(ARCHS)})"
                        if not (path.exists() or pretrained or arch) else "")
                fail(item, f"{exc.problem}{hint}")
                continue
            except Exception as exc:  # e.g. out of memory on the device
                fail(item, f"cannot load: {type(exc).__name__}: {exc}")
                continue
            name = item.replace(":", "_") if pretrained else path.stem  # a folder name under --out
        taken = {s.name for s in specs}
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        specs.append(ModelSpec(unique, model, meta))
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_library_warnings()
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not 0.0 <= args.alpha <= 1.0:
        parser.error("--alpha must be between 0 and 1")
    if args.num_classes < 1 or args.input_size < 8:
        parser.error("--num-classes must be at least 1 and --input-size at least 8")
    options = _parse_options(args.option, parser, args.method)
    if args.nproc_per_node is not None:
        from gcam_desktop.distributed import launch, launched_by_torchrun, without_option

        if args.nproc_per_node < 1:
            parser.error("--nproc-per-node must be at least 1")
        if launched_by_torchrun():
            parser.error("already started by torchrun; leave out --nproc-per-node")
        if args.nproc_per_node > 1:
            argv = list(sys.argv[1:] if argv is None else argv)
            return launch([sys.executable, "-m", "gcam_desktop.cli.explain",
                           *without_option(argv, "--nproc-per-node")], args.nproc_per_node)

    from tqdm import tqdm

    from gcam_desktop.distributed import init_world

    bar = None

    def say(message: str) -> None:
        if bar is not None:
            bar.write(message, file=sys.stderr)  # above the bar, which stays intact
        else:
            print(message, file=sys.stderr)

    problems: list[tuple[str, str]] = []

    def fail(what: str, why: str) -> None:
        problems.append((what, why))
        say(f"error: {what}: {why}")

    from gcam_desktop.files import WriteError, check_writable

    try:  # before the models load and any image is read: an unwritable --out fails at once
        # Under torchrun, rank 0 alone: processes racing to create --out made one fail with
        # "file exists" (the launcher ends the others when rank 0 gives up).
        from gcam_desktop.distributed import env_rank

        if env_rank() == 0:
            check_writable(args.out)
    except WriteError as exc:
        say(f"error: {exc}")
        return 1
    try:
        world = init_world(args.device, gloo_only=True)
    except (ValueError, RuntimeError) as exc:
        parser.error(f"--device {args.device}: {exc}")

    def work() -> int:
        nonlocal bar
        models = load_models(args.weights, world.device, args.num_classes, args.input_size, say, fail)
        if not models:
            say("error: no model could be loaded; nothing to do")
            return 1
        bar = tqdm(total=0, unit="img", file=sys.stderr, disable=args.no_progress or None, dynamic_ncols=True)

        def progress(done: int, total: int, path: str) -> None:
            bar.total = total
            bar.update(done - bar.n)

        signals = _StopOnSignals()
        try:
            report = explain_paths(
                args.paths, models, args.out, method=args.method, layer=args.layer, target=args.target,
                top_k=args.top_k, options=options, batch_size=args.batch_size, cmap=args.cmap,
                alpha=args.alpha, max_side=args.max_side, on_progress=progress, on_error=fail,
                world=world if world.distributed else None)
        except KeyboardInterrupt:  # before explain_paths could take over: nothing finished
            bar.close()
            say("interrupted before any image was finished; nothing written")
            return 128 + (signals.received or 2)
        finally:
            signals.restore()
            bar.close()
        bar = None
        if world.distributed:  # every process's problems, each told once (each logged its own already)
            problems[:] = report.failures
            if not world.main:
                return 1 if problems or report.maps == 0 else 0
        names = ", ".join(m.name for m in models)
        say(summary(report, len(models), names, args.method, args.out)
            + (f" (by {world.size} processes)" if world.distributed else ""))
        if report.cancelled and signals.received:
            return 128 + signals.received
        if problems:
            say(f"{len(problems)} problem(s):")
            for what, why in problems:
                say(f"  {what}: {why}")
            return 1
        if report.maps == 0:
            return 1  # nothing written is never a success
        return 0

    try:
        return work()
    except KeyboardInterrupt as exc:  # e.g. SIGINT / SIGTERM while ImageNet weights download: one line
        say(str(exc) or "interrupted before any image was finished; nothing written")
        return 128 + getattr(exc, "signum", 2)
    finally:
        world.close()


def summary(report, n_models: int, names: str, method: str, out) -> str:
    """One honest line: what was finished and written, not what was attempted."""
    head = f"{report.images} image(s) x {n_models} model(s) [{names}], {method}: "
    if report.cancelled:
        head = f"interrupted after {report.finished} of {report.images} image(s) x {n_models} model(s) [{names}], {method}: "
    elif report.finished < report.images:
        head += f"{report.finished} finished, "
    text = head + f"{report.maps} map(s) written to {out}"
    if report.maps_failed:
        text += f", {report.maps_failed} could not be written"
    text += f" in {report.seconds:.1f} s"
    if report.predictions_csv:
        text += f"; predictions of {report.finished} image(s) in {report.predictions_csv}"
    else:
        text += "; no predictions.csv written"
    return text


class _StopOnSignals:
    """SIGTERM ends the run like Ctrl+C: the finished images' rows stay in predictions.csv."""

    def __init__(self) -> None:
        import signal

        self.received = 0
        self._saved = {}
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is None:
                continue
            try:
                self._saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave the handlers alone
                pass

    def _handle(self, signum, frame) -> None:
        self.received = signum
        raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
