"""gcam-explain: explain folders of images with one or more models, headless.

    gcam-explain --weights resnet50.pt se_resnet50.pt --method gradcam --top-k 3 --out maps/ photos/

Writes, per image and model, the overlay PNG and the raw map (.npy, the layer's resolution,
before normalisation) under OUT/<model>/, and one OUT/predictions.csv. A bad image is
reported by name and skipped; the exit status is 1 if anything failed or no map was written,
2 for a usage error (one line, every number checked up front: gcam_desktop/cli/usage.py),
130 / 143 after Ctrl+C / SIGTERM (the finished images' rows are kept in predictions.csv,
which is written as images finish). --out is held for the whole run (gcam_desktop/run_folder.py):
a second run into it is refused in one line.

The work is `gcam_desktop.batch.explain_files.explain_paths`, which the app's batch export calls too.
torch is imported only once the arguments are read, so `--help` is instant.

Several processes (`--nproc-per-node N`, or started by torchrun): each explains its share of
the batches on its own device (GPU of its local rank, or the CPU); the files and predictions.csv
are those of one process (see gcam_desktop/distributed.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gcam_desktop.batch.explain_files import PROGRAM, ModelSpec, explain_paths
from gcam_desktop.batch.names import shown
from gcam_desktop.cli.usage import Parser, UsageError, float_between, int_at_least, report
from gcam_desktop.explain import METHODS
from gcam_desktop.explain.overlay import COLORMAPS
from gcam_desktop.models.pretrained_refs import split_arch_ref
from gcam_desktop.quiet import quiet_library_warnings


# -------------------------------------------------------------------------------------- CLI

def build_parser() -> Parser:
    p = Parser(
        prog=PROGRAM,
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
    which.add_argument("--top-k", type=int_at_least(1), default=1, metavar="K",
                       help="explain the K most probable classes of each image (default: 1)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output folder (left out of the scan if it lies inside a PATH folder)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=int_at_least(1), default=8, help="images per forward pass (default: 8)")
    p.add_argument("--cmap", default="turbo", choices=COLORMAPS, help="overlay colour map (default: turbo)")
    p.add_argument("--alpha", type=float_between(0.0, 1.0), default=0.5, help="overlay opacity 0..1 (default: 0.5)")
    p.add_argument("--max-side", type=int_at_least(0, "keeps the size"), default=1024,
                   help="shrink overlays to this many pixels on the long side; 0 keeps the size")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a method option, e.g. samples=50 (smoothgrad), steps=64 "
                        "(integrated_gradients), max_channels=256 (scorecam)")
    p.add_argument("--num-classes", type=int_at_least(1), default=1000,
                   help="classes of a randomly initialised model (architecture name only)")
    p.add_argument("--input-size", type=int_at_least(8), default=224,
                   help="input size of a randomly initialised model (architecture name only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--nproc-per-node", type=int_at_least(1), default=None, metavar="N",
                   help="explain in N processes on this machine (one per GPU), started through "
                        "torch.distributed.run as torchrun would; outputs as from one process. Under torchrun, "
                        "leave this out")
    p.add_argument("--allow-oversubscribe", action="store_true",
                   help="with --nproc-per-node: start more processes than there are GPUs (or CPU cores "
                        "without a GPU), which is refused otherwise")
    return p


def _class(text: str) -> int | str:
    """--target: an index, or a class name (models with other class sets each find their own)."""
    return int(text) if text.lstrip("-").isdigit() else text


def _parse_options(items: Sequence[str], parser: Parser, method: str) -> dict[str, Any]:
    from gcam_desktop.cli.method_options import parse_option

    options: dict[str, Any] = {}
    for item in items:
        try:
            parse_option(item, method, options)
        except ValueError as exc:
            parser.error(str(exc))
    return options


def load_models(weights: Sequence[str], device, num_classes: int, input_size: int,
                warn: Callable[[str], None], fail: Callable[[str, str], None]) -> list[ModelSpec]:
    """Models for the --weights arguments: architecture names (random weights, with a
    warning) and checkpoint files, named as every output names them (names.model_names)."""
    from gcam_desktop.models import ARCHS, CheckpointError, build_model, is_pretrained_ref, load_checkpoint, make_meta
    from gcam_desktop.models.names import model_names
    from gcam_desktop.models.pretrained_refs import weights_name

    loaded: list[tuple[str, Any, Mapping]] = []   # (what was given, model, meta)
    for given in weights:
        arch, item = split_arch_ref(given)  # ARCH=CHECKPOINT, as gcam-desktop takes it: checked on load
        path = Path(item)
        if item in ARCHS and not path.exists():
            warn(f"warning: {item!r} is an architecture name, so this model has random, untrained "
                 f"weights and its maps show no learned evidence; pass a checkpoint file to "
                 f"explain a trained model")
            model = build_model(item, num_classes).eval().to(device)
            meta = make_meta(item, [f"class {i}" for i in range(num_classes)], input_size=input_size)
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
        loaded.append((item, model, meta))
    names = model_names([(str(meta["arch"]), weights_name(item)) for item, _, meta in loaded])
    return [ModelSpec(name, model, meta) for name, (_, model, meta) in zip(names, loaded)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # every number checked here, by its option's type
        quiet_library_warnings()
        options = _parse_options(args.option, parser, args.method)
        if args.nproc_per_node is not None:
            launched = _launch(args, argv, parser)
            if launched is not None:
                return launched
        return _run(args, options, parser)
    except UsageError as exc:
        return report(exc, PROGRAM)


def _launch(args, argv: Sequence[str] | None, parser: Parser) -> int | None:
    """--nproc-per-node N > 1: this process starts N others (which claim --out) and waits."""
    from gcam_desktop.distributed import launch, launched_by_torchrun, without_option

    if launched_by_torchrun():
        parser.error("already started by torchrun; leave out --nproc-per-node")
    if args.nproc_per_node == 1:
        return None
    argv = list(sys.argv[1:] if argv is None else argv)
    return launch([sys.executable, "-m", "gcam_desktop.cli.explain",
                   *without_option(argv, "--nproc-per-node")], args.nproc_per_node,
                  device=args.device, allow_oversubscribe=args.allow_oversubscribe)


def _run(args, options: dict[str, Any], parser: Parser) -> int:
    """Hold --out for the whole run (rank 0 under torchrun), join the process group, explain."""
    from gcam_desktop.distributed import env_rank, init_world
    from gcam_desktop.files import WriteError, check_writable
    from gcam_desktop.run_folder import RunFolder

    console = _Console()
    folder = RunFolder(args.out, PROGRAM)
    try:  # before the models load and any image is read: an unwritable or busy --out fails at once
        # Under torchrun, rank 0 alone: processes racing to create --out made one fail with
        # "file exists" (the launcher ends the others when rank 0 gives up).
        if env_rank() == 0:
            check_writable(args.out)
            folder.claim()
    except WriteError as exc:
        console.say(f"error: {exc}")
        return 1
    try:
        try:
            world = init_world(args.device, gloo_only=True)
        except (ValueError, RuntimeError) as exc:
            parser.error(f"--device {args.device}: {exc}")
        try:
            return _explain(args, options, world, folder, console)
        except KeyboardInterrupt as exc:  # SIGINT / SIGTERM while ImageNet weights download: one line
            console.say(str(exc) or "interrupted before any image was finished; nothing written")
            return 128 + getattr(exc, "signum", 2)
        finally:
            world.close()
    finally:
        folder.release()


def _explain(args, options: dict[str, Any], world, folder, console: "_Console") -> int:
    models = load_models(args.weights, world.device, args.num_classes, args.input_size, console.say, console.fail)
    if not models:
        console.say("error: no model could be loaded; nothing to do")
        return 1
    console.start_bar(args.no_progress)
    signals = _StopOnSignals()
    try:
        result = explain_paths(
            args.paths, models, args.out, method=args.method, layer=args.layer, target=args.target,
            top_k=args.top_k, options=options, batch_size=args.batch_size, cmap=args.cmap,
            alpha=args.alpha, max_side=args.max_side, on_progress=console.progress, on_error=console.fail,
            world=world if world.distributed else None, folder=folder)
    except KeyboardInterrupt:  # before explain_paths could take over: nothing finished
        console.close_bar()
        console.say("interrupted before any image was finished; nothing written")
        return 128 + (signals.received or 2)
    finally:
        signals.restore()
        console.close_bar()
    return _finish(result, models, args, world, console, signals.received)


def _finish(result, models: list[ModelSpec], args, world, console: "_Console", signal_received: int) -> int:
    """The summary line, the problems once more, and the exit status."""
    if world.distributed:  # every process's problems, each told once (each logged its own already)
        console.problems[:] = result.failures
        if not world.main:
            return 1 if console.problems or result.maps == 0 else 0
    names = ", ".join(m.name for m in models)
    console.say(summary(result, len(models), names, args.method, args.out)
                + (f" (by {world.size} processes)" if world.distributed else ""))
    if result.cancelled and signal_received:
        return 128 + signal_received
    if console.problems:
        console.say(f"{len(console.problems)} problem(s):")
        for what, why in console.problems:
            console.say(f"  {what}: {why}")
        return 1
    return 1 if result.maps == 0 else 0  # nothing written is never a success


class _Console:
    """stderr for messages, above the progress bar while there is one; problems remembered."""

    def __init__(self) -> None:
        self.bar = None
        self.problems: list[tuple[str, str]] = []

    def say(self, message: str) -> None:
        message = shown(message)  # a path that is not UTF-8 shown as \xNN (batch/names.py)
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)  # above the bar, which stays intact
        else:
            print(message, file=sys.stderr)

    def fail(self, what: str, why: str) -> None:
        self.problems.append((shown(what), shown(why)))
        self.say(f"error: {what}: {why}")

    def start_bar(self, disabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit="img", file=sys.stderr, disable=disabled or None, dynamic_ncols=True)

    def progress(self, done: int, total: int, path: str) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def summary(report, n_models: int, names: str, method: str, out) -> str:
    """One honest line: what was finished and written, not what was attempted."""
    head = f"{report.images} image(s) x {n_models} model(s) [{names}], {method}: "
    if report.cancelled:
        head = f"interrupted after {report.finished} of {report.images} image(s) x {n_models} model(s) [{names}], {method}: "
    elif report.finished < report.images:
        head += f"{report.finished} finished, "
    text = head + f"{report.maps} map(s) written to {shown(out)}"
    if report.maps_failed:
        text += f", {report.maps_failed} could not be written"
    text += f" in {report.seconds:.1f} s"
    if report.predictions_csv:
        text += f"; predictions of {report.finished} image(s) in {shown(report.predictions_csv)}"
    else:
        text += "; no predictions.csv written"
    if report.skipped:
        text += f"; {report.skipped} path(s) skipped, not image files (listed above)"
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
