"""`gcam-train`: train, make the synthetic set, or build the demo models.

stdout carries only the JSON-lines events of training/EVENTS.md; people read stderr.
Exit status: 0 finished or stopped on request, 2 a problem with the options or the data
(an `error` event says which), 1 anything unexpected (an `error` event and a traceback on stderr).
"""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

from gcam_desktop.cli.usage import Parser, UsageError, float_between, int_at_least, report
from gcam_desktop.models.names import ARCHS
from gcam_desktop.models.pretrained_refs import split_arch_ref
from gcam_desktop.quiet import quiet_library_warnings

from .config import FINETUNE_TRAIN, OPTIMIZERS, RECIPES, SCHEDULERS, TrainConfig
from .events import JsonLinesWriter, StdoutGuard, make_event
from .stopping import StopFlag

SUBCOMMANDS = ("train", "synth", "demo")
log = logging.getLogger("training")
POSITIVE = float_between(0, math.inf, low_open=True)
NOT_NEGATIVE = float_between(0, math.inf)
FRACTION = float_between(0, 1, high_open=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="auto (CUDA, then MPS, then CPU; default), cpu, cuda, cuda:1, mps")
    p.add_argument("--workers", type=int_at_least(0), default=None,
                   help="data-loading processes (default: automatic; 0 when frozen or the images fit in memory)")
    p.add_argument("--stop-on-stdin", action="store_true",
                   help='also stop cleanly when a line "stop" arrives on stdin (for parents on Windows, '
                        "where SIGTERM cannot be caught)")


def train_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = Parser(
        prog="gcam-train",
        description="Train image classifiers on an image folder (the paper's recipe by default). "
                    "Other commands: `gcam-train synth --help`, `gcam-train demo --help`. "
                    "stdout carries JSON-lines events only (training/EVENTS.md); progress goes to stderr.")
    # No ArgumentDefaultsHelpFormatter: options default to None so a resumed run can tell "not
    # given" from "given"; each help text names the recipe's real default instead.
    p.add_argument("--data", metavar="DIR", help="ImageFolder (one subfolder per class) or a folder with "
                   "train/, val/ and optionally test/")
    p.add_argument("--arch", nargs="+", metavar="ARCH", default=None,
                   help=f"one or more of {', '.join(ARCHS)}, trained in turn on one split (default: resnet50)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder under the user data folder)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run exactly (its saved options apply; "
                   "only --device, --workers, --cache-gb, --nproc-per-node and --stop-on-stdin may change; with "
                   "another number of processes it continues at the same step, not bit-exactly)")
    g = p.add_argument_group("recipe")
    g.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="paper: the paper's from-scratch recipe (default); finetune: for --init imagenet:... "
                        f"({', '.join(f'{k} {v}' for k, v in FINETUNE_TRAIN.items())}); options given "
                        "explicitly override either")
    g.add_argument("--epochs", type=int_at_least(1), default=None, help=f"default {d.epochs}")
    g.add_argument("--batch-size", type=int_at_least(2), default=None, help=f"default {d.batch_size}")
    g.add_argument("--lr", type=POSITIVE, default=None, help=f"learning rate (peak rate with onecycle); default {d.lr}")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help=f"default {d.optimizer}")
    g.add_argument("--weight-decay", type=NOT_NEGATIVE, default=None, help=f"default {d.weight_decay}")
    g.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                   help=f"learning-rate schedule, stepped per batch; default {d.scheduler}")
    g.add_argument("--input-size", type=int_at_least(16), default=None, help=f"square input side in pixels; default {d.input_size}")
    g.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    g.add_argument("--seed", type=int_at_least(0), default=None, help=f"default {d.seed}")
    g.add_argument("--val-fraction", type=FRACTION, default=None, help=f"default {d.val_fraction}")
    g.add_argument("--test-fraction", type=FRACTION, default=None, help=f"default {d.test_fraction}")
    g.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    g.add_argument("--init", action="append", metavar="[ARCH=]PATH", default=None,
                   help="start from weights: one of our checkpoints, a torchvision / timm state dict, or "
                        "imagenet:resnet50 (the ImageNet ResNet50 backbone for every variant; SE-ResNet50 "
                        "takes timm's ImageNet SE gates when available) or imagenet:se_resnet50; "
                        "the classifier is replaced when the class count differs. Repeat with ARCH= per arch")
    g.add_argument("--shuffle-labels", action="store_true",
                   help="train on a seeded permutation of the training labels (validation and test keep "
                        "theirs): the data randomisation sanity check of Adebayo et al. 2018. The model "
                        "should fit them and stay at chance on validation; the split, batch order and flips "
                        "are those of the same run without this option")
    g.add_argument("--probe", type=int_at_least(0), default=None, metavar="N",
                   help=f"after each epoch, explain N fixed validation images (seeded, one per class first) "
                        f"with Grad-CAM at the default layer into RUN_DIR/<arch>/probe/ and a `probe` event; "
                        f"0: off; default {d.probe}")
    g.add_argument("--keep-every", type=int_at_least(0), default=None, metavar="K",
                   help="also keep the weights of every K-th epoch (RUN_DIR/<arch>/epochs/epoch-NNN.pt, "
                        "about 95 MB each for a ResNet50) to open a probe image with them; default 0: "
                        "only last.pt and best.pt")
    g.add_argument("--allow-unvalidated-classes", action="store_true",
                   help="train even when a class has too few images to lend one to validation "
                        "(refused otherwise, naming the class and the minimum)")
    g.add_argument("--cache-gb", type=NOT_NEGATIVE, default=None, metavar="GB",
                   help="keep the decoded images in memory when they fit this many GB (the copies of all "
                        "processes on the machine together); 0: decode them per batch in DataLoader workers "
                        "(same results). Default: half of the memory available at the start")
    d_ = p.add_argument_group("several processes (torch.distributed; see README, \"More than one GPU or machine\")")
    d_.add_argument("--nproc-per-node", type=int_at_least(1), default=None, metavar="N",
                    help="train in N processes on this machine (one per GPU; on the CPU, gloo), started through "
                         "torch.distributed.run as torchrun would. --batch-size stays the global batch (a multiple "
                         "of N); each process trains batch/N images per step. Under torchrun, leave this out")
    d_.add_argument("--sync-bn", action="store_true",
                    help="batch norm with the statistics of the whole global batch (SyncBatchNorm): then N "
                         "processes train like one with the same --batch-size. Without it each process "
                         "normalises with the statistics of its own batch/N images (noisier with small slices), "
                         "and the running statistics saved in the checkpoints are rank 0's")
    d_.add_argument("--allow-oversubscribe", action="store_true",
                    help="start more processes than there are CUDA GPUs (or CPU cores, without CUDA); "
                         "refused otherwise, as they would share the devices and each hold its own copy "
                         "of the model and data")
    dup = p.add_argument_group("near-duplicates across splits (checked before training; pairs go into split.json)")
    dup.add_argument("--dedup", action="store_true",
                     help="keep one picture of each near-duplicate group (the split stays stratified and seeded)")
    dup.add_argument("--dup-threshold", type=int_at_least(0), default=None, metavar="BITS",
                     help=f"Hamming distance of 64-bit fingerprints counted as a copy; default {d.dup_threshold}")
    dup.add_argument("--hash-model", metavar="CKPT", default=None,
                     help="ResNet50 checkpoint that fingerprints the pictures, or random:resnet50 (default: ImageNet "
                          "weights when available, else the demo baseline, else seeded random weights)")
    dup.add_argument("--no-dup-check", action="store_true", help="do not look for near-duplicates")
    _common(p)
    return p


def synth_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gcam-train synth", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                description="Write a synthetic ImageFolder with a ground-truth mask per image: "
                            "OUT/images/<class>/<name>.png, OUT/masks/<class>/<name>.png (255 = object), "
                            "OUT/synth.json. Deterministic by seed.")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--classes", type=int_at_least(2), default=6)
    p.add_argument("--per-class", type=int_at_least(1), default=100)
    p.add_argument("--size", type=int_at_least(16), default=64, help="image side in pixels")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--force", action="store_true", help="replace images/ and masks/ in a non-empty OUT")
    p.add_argument("--shortcut", metavar="CLASS:FRACTION",
                   help="plant a shortcut: a small fixed mark (top-left corner) on that fraction of one class's "
                        "images (CLASS: a name or index), recorded per image in synth.json")
    p.add_argument("--shortcut-only", action="store_true",
                   help="with --shortcut: the marked images show another class's object, so the mark is their only "
                        "evidence (on this easy set a model barely uses a mark beside the object)")
    return p


def demo_parser() -> argparse.ArgumentParser:
    from gcam_desktop.paths import DEMO_ARCHS

    from .config import DEMO_SYNTH, DEMO_TRAIN

    p = Parser(prog="gcam-train demo",
               description=f"Make the synthetic set and train {', '.join(DEMO_ARCHS)} on it "
                            f"(set {DEMO_SYNTH}; recipe {DEMO_TRAIN}); the checkpoints go where the app "
                            "finds its demo models. Run again to resume a stopped demo.")
    _common(p)
    return p


def _config_from(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig(**RECIPES[getattr(args, "recipe", None) or "paper"])
    mapping = {"data": "data", "out": "out", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
               "optimizer": "optimizer", "weight_decay": "weight_decay", "scheduler": "scheduler",
               "input_size": "input_size", "seed": "seed", "val_fraction": "val_fraction",
               "test_fraction": "test_fraction", "workers": "workers", "device": "device", "cache_gb": "cache_gb",
               "dup_threshold": "dup_threshold", "hash_model": "hash_model", "probe": "probe",
               "keep_every": "keep_every"}
    for arg, key in mapping.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(cfg, key, value)
    if args.arch:
        cfg.archs = list(args.arch)
    cfg.hflip = not args.no_hflip
    cfg.allow_unvalidated_classes = bool(args.allow_unvalidated_classes)
    cfg.amp = bool(args.amp)
    cfg.sync_bn = bool(args.sync_bn)
    cfg.dedup = bool(args.dedup)
    cfg.shuffle_labels = bool(args.shuffle_labels)
    cfg.dup_check = not args.no_dup_check
    for item in args.init or []:
        arch, path = split_arch_ref(item)  # [ARCH=]PATH, read as every entry point reads it
        cfg.init[arch or "*"] = path
    return cfg


_RESUMABLE = {"resume", "device", "workers", "stop_on_stdin", "nproc_per_node", "cache_gb", "allow_oversubscribe"}
PARSERS = {"train": train_parser, "synth": synth_parser, "demo": demo_parser}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_library_warnings()
    _passive_openmp()
    command, rest = (argv[0], argv[1:]) if argv and argv[0] in SUBCOMMANDS else ("train", argv)
    # Parsing happens before stdout is reserved for events, so --help prints normally.
    try:
        args = PARSERS[command]().parse_args(rest)
        if command == "train":
            _check_train_args(args)
        elif command == "synth" and args.shortcut:
            args.shortcut = _parsed_shortcut(args)
        elif command == "synth" and args.shortcut_only:
            raise UsageError("gcam-train synth: --shortcut-only needs --shortcut CLASS:FRACTION")
    except UsageError as exc:
        _print_event(make_event("error", message=str(exc), arch=None))
        return report(exc, "gcam-train" if command == "train" else f"gcam-train {command}")
    if command == "train" and (args.nproc_per_node or 1) > 1:
        return _launch(rest, args)
    return _run(command, args)


# ------------------------------------------------------------------------------ usage checks

def _check_train_args(args: argparse.Namespace) -> None:
    """What argparse cannot check alone; UsageError if refused."""
    if args.resume:
        _check_resume_args(args)
    elif not args.data:
        raise UsageError("gcam-train: --data DIR is required (or --resume RUN_DIR)")
    if args.nproc_per_node is not None:
        from gcam_desktop.distributed import launched_by_torchrun

        if launched_by_torchrun():
            raise UsageError("gcam-train: already started by torchrun; leave out --nproc-per-node")
        if args.nproc_per_node > 1:
            # Said once, before any process starts: when every process refused it, the
            # launcher could end rank 0 before it said why (seen under load).
            _check_before_launch(args, args.nproc_per_node)


def _parsed_shortcut(args: argparse.Namespace) -> tuple[int, float]:
    """--shortcut CLASS:FRACTION as (class index, fraction); UsageError saying what is wrong."""
    from .synth import parse_shortcut

    try:
        return parse_shortcut(args.shortcut, args.classes, args.per_class)
    except ValueError as exc:
        raise UsageError(f"gcam-train synth: {exc}") from None


def _check_resume_args(args: argparse.Namespace) -> None:
    given = [k for k, v in vars(args).items() if k not in _RESUMABLE and v not in (None, False)]
    if given:
        raise UsageError(f"gcam-train: --resume continues with the run's saved options; drop "
                         f"{', '.join('--' + k.replace('_', '-') for k in given)}")


def _check_before_launch(args: argparse.Namespace, nproc: int) -> None:
    """The options and the batch against the process count, and the process count against the
    machine's devices; UsageError if refused."""
    from gcam_desktop.distributed import too_many_processes

    from .run import batch_problem

    problem = None if args.allow_oversubscribe else too_many_processes(nproc, args.device)
    if not problem and not args.resume:
        try:
            cfg = _config_from(args)
            cfg.validate()
        except ValueError as exc:
            raise UsageError(f"gcam-train: {exc}") from None
        problem = batch_problem(cfg.batch_size, nproc)
    if problem:
        raise UsageError(f"gcam-train: {problem}")


# ------------------------------------------------------------------------------ one process

def _run(command: str, args: argparse.Namespace) -> int:
    """Run a command in this process, stdout reserved for events; the exit status."""
    guard = StdoutGuard()
    stop = StopFlag()
    # Under torchrun only rank 0 writes events; the others' would interleave with its stream.
    writer = JsonLinesWriter(guard.stream if _rank() == 0 else open(os.devnull, "w"),
                             on_broken=lambda: stop.set("stdout closed"))
    current = {"arch": None}

    def write_error(message: str) -> None:
        writer(make_event("error", message=message, arch=current["arch"]))

    try:
        with _logging_to_stderr():
            try:
                _arm_stop(stop, args)
                return _dispatch(command, args, _sink(writer, current), stop)
            except KeyboardInterrupt as exc:  # a second Ctrl-C, or a signal while --init weights download
                message = str(exc) or "interrupted before the state was saved"
                if str(exc):  # DownloadInterrupted: said on stderr too, in one line
                    log.error("%s", message)
                write_error(message)
                return 128 + getattr(exc, "signum", 2)
            except Exception as exc:
                return _failure(exc, write_error)
    finally:
        stop.uninstall()
        guard.restore()


def _arm_stop(stop: StopFlag, args: argparse.Namespace) -> None:
    stop.install_signal_handlers()
    stop.on_set(lambda why: log.info("stop requested (%s): finishing the current step", why))
    stop.use_test_hooks()
    # The processes of one machine share the launcher's stdin; one watching it is enough (the
    # processes agree on stopping after every step).
    if getattr(args, "stop_on_stdin", False) and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        stop.watch_stdin()


def _sink(writer: JsonLinesWriter, current: dict) -> Callable[[dict], None]:
    """The events to stdout, noting the arch being trained (named by a later error event)."""
    def on_event(event: dict) -> None:
        if event["event"] == "run_started":
            current["arch"] = event["arch"]
        writer(event)

    return on_event


def _dispatch(command: str, args: argparse.Namespace, on_event: Callable[[dict], None], stop: StopFlag) -> int:
    if command == "synth":
        return _run_synth(args)
    if command == "demo":
        from .demo import run_demo

        run_demo(on_event=on_event, stop=stop, device=args.device, workers=args.workers)
        return 0
    from .run import train

    if args.resume:
        train(resume=args.resume, on_event=on_event, stop=stop, device=args.device, workers=args.workers,
              cache_gb=args.cache_gb)
    else:
        train(_config_from(args), on_event=on_event, stop=stop)
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from .synth import make_synthetic

    step = max(1, args.classes * args.per_class // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            log.info("synth: %d/%d images", done, total)

    manifest = make_synthetic(args.out, args.classes, args.per_class, args.size, args.seed,
                              force=args.force, progress=progress, shortcut=args.shortcut or None,
                              shortcut_only=args.shortcut_only)
    log.info("synth: %d images of %d classes (%s) in %s", len(manifest["images"]), args.classes,
             ", ".join(manifest["class_names"]), args.out)
    return 0


# ------------------------------------------------------------------------------ several processes

def _launch(argv: list[str], args: argparse.Namespace) -> int:
    """`--nproc-per-node N`: hold the run folder here, so a refusal is said once and before any
    process starts, then start the processes (rank 0 knows the folder is held for it)."""
    from .launch import launch
    from .run_claim import RunClaim

    def write_error(message: str) -> None:
        _print_event(make_event("error", message=message, arch=None))

    with _logging_to_stderr(), RunClaim() as claim:
        try:
            _claim_for_processes(args, claim)
        except Exception as exc:
            return _failure(exc, write_error)
        log.info("starting %d processes (torch.distributed.run)", args.nproc_per_node)
        with _environment(claim.for_processes()):
            return launch(argv, args.nproc_per_node, write_error, device=args.device,
                          allow_oversubscribe=args.allow_oversubscribe)


def _claim_for_processes(args: argparse.Namespace, claim) -> None:
    """The run folder the processes will write, when it is known before they start (without
    --out, rank 0 makes a new one and holds it itself)."""
    from .run import claim_new_run_dir, claim_resumed, open_run

    if args.resume:
        run_dir, _, archs = open_run(args.resume)
        claim_resumed(run_dir, archs, claim)
    elif args.out:
        claim_new_run_dir(_config_from(args), claim)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------ reporting

class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = super().format(record)
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


@contextmanager
def _logging_to_stderr() -> Iterator[None]:
    """The trainer's log on stderr (prefixed with the rank of a process other than 0)."""
    saved = (log.level, log.propagate)
    handler = logging.StreamHandler(sys.stderr)
    rank = _rank()
    handler.setFormatter(_StderrFormatter(f"[rank {rank}] %(message)s" if rank else "%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _failure(exc: Exception, write_error: Callable[[str], None]) -> int:
    """One line for a problem the user can fix (status 2); a traceback as well for anything else (1)."""
    known = _user_error(exc)
    message = _user_message(exc) if known else f"{type(exc).__name__}: {exc}"
    if not known:
        traceback.print_exc(file=sys.stderr)
    log.error("%s", message)
    write_error(message)
    return 2 if known else 1


_WRITE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG)


def _user_message(exc: Exception) -> str:
    """One line for a problem the user can fix; a failed write names the file and the reason."""
    from gcam_desktop.files import WriteError, write_reason

    if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in _WRITE_ERRNOS:
        return f"cannot write {exc.filename or 'a file'}: {write_reason(exc)}"
    return str(exc)


def _user_error(exc: Exception) -> bool:
    from .data import DataError
    from .run import RunError

    from gcam_desktop.files import WriteError

    known: tuple = (DataError, RunError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError,
                    WriteError)
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        return True  # a full or read-only disk, wherever the write happened
    try:
        from gcam_desktop.models import CheckpointError

        known += (CheckpointError,)
    except Exception:  # pragma: no cover - torch missing entirely
        pass
    return isinstance(exc, known)


def _passive_openmp() -> None:
    """Let OpenMP threads sleep, not spin, while waiting (unless the user chose otherwise).

    The trainer usually shares the CPU (with the app's own inference worker, a browser, other
    jobs). With spinning waits every parallel region stalls on a descheduled thread: measured
    on a busy 2-core machine, ResNet50 training ran 3-6x slower with 2 spinning threads than
    with passive ones. Must happen before torch (and its OpenMP runtime) loads.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _rank() -> int:
    from gcam_desktop.distributed import env_rank

    return env_rank()


def _print_event(event: dict) -> None:
    print(json_line(event), flush=True)


def json_line(event: dict) -> str:
    import json

    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
