"""A training run: the run folder, the data checked and split once, then each arch in turn.

Run folder layout:
    RUN_DIR/config.json       the configuration (TrainConfig) of the whole command
    RUN_DIR/split.json        the stratified, seeded split every arch shares
    RUN_DIR/<arch>/           metrics.jsonl, last.pt, best.pt, report.json of one arch; probe/epoch-NNN.npz
                              (--probe, training/probe.py), epochs/epoch-NNN.pt (--keep-every)

With several processes (torchrun) every process runs this; rank 0 alone chooses the run folder,
writes files and emits events, and the others follow (gcam_desktop/distributed.py).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from gcam_desktop.files import check_writable, write_json
from gcam_desktop.run_folder import FolderBusy

from .cache_budget import CacheChoice, choose_cache
from .config import TrainConfig
from .data import (DataError, DatasetSplit, build_split, check_validation_possible, decode_all, find_dataset,
                   listing_counts, shuffle_train_labels)
from .events import EventSink, make_event
from .metrics import read_history
from .probe import ProbeChoice, ProbeError, choose_probe, recorded_choice
from .run_claim import RunClaim
from .stopping import StopFlag

log = logging.getLogger("training")
RUN_FORMAT = "gcam-desktop/run"
AfterArch = Callable[[str, dict], None]


class RunError(Exception):
    """A run that cannot start or resume (bad folder, options); the message says why."""


def _emitter(on_event: EventSink | None):
    def emit(name: str, **fields) -> None:
        if on_event is not None:
            on_event(make_event(name, **fields))

    return emit


def claim_new_run_dir(cfg: TrainConfig, claim: RunClaim) -> Path:
    """The new run's folder, held by `claim` before it is checked for an earlier run (two runs
    started together into one --out both passed the check and interleaved their files)."""
    if not cfg.out:
        return _claim_unused_folder(cfg, claim)
    run_dir = Path(cfg.out).expanduser()
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir}: exists and is not a folder")
    check_writable(run_dir)  # before the images are read: a read-only --out fails now
    claim.take(run_dir)
    if (run_dir / "config.json").exists():
        raise RunError(f"{run_dir}: already holds a training run; continue it with --resume {run_dir} "
                       f"or choose another --out")
    return run_dir


def _claim_unused_folder(cfg: TrainConfig, claim: RunClaim) -> Path:
    """A new folder under the user's runs folder, named by time and data."""
    from gcam_desktop.paths import runs_dir

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(os.path.abspath(Path(cfg.data or "data").expanduser())).name or "data"
    k = 1
    while True:
        run_dir = runs_dir() / (f"{stamp}-{name}" if k == 1 else f"{stamp}-{name}-{k}")
        if not run_dir.exists():
            check_writable(run_dir)
            try:
                return claim.take(run_dir)
            except FolderBusy:  # another run on the same data, started in the same second
                pass
        k += 1


def claim_resumed(run_dir: Path, archs: list[str], claim: RunClaim) -> None:
    """Hold a run folder to continue it (refused while the run is still going), and check that
    every unfinished arch that recorded epochs still has the last.pt to continue from."""
    claim.take(run_dir)
    for arch in archs:
        arch_dir = run_dir / arch
        if (arch_dir / "last.pt").exists() or _finished_report(arch_dir) is not None:
            continue
        recorded = max((h["epoch"] for h in read_history(arch_dir / "metrics.jsonl")), default=0)
        # last.pt is written after every epoch, so only the latest epoch can be missing from it
        # (a kill while it was written); beyond that, last.pt was lost and a fresh start would
        # overwrite best.pt without a word.
        if recorded > 1:
            raise RunError(f"{arch_dir / 'last.pt'}: missing, but {arch_dir / 'metrics.jsonl'} records {recorded} "
                           f"epochs of {arch}; put last.pt back to continue (a new --out starts again)")
        if recorded:
            log.warning("%s: no last.pt after epoch 1 (the run may have ended while writing it): training %s "
                        "again from the start", arch_dir, arch)


def _run_folder_of(resume: str | os.PathLike) -> tuple[Path, str | None]:
    """(run folder, arch or None) named by --resume, which may also name an arch folder."""
    path = Path(resume).expanduser()
    if not (path / "config.json").exists() and (path.parent / "config.json").exists():
        return path.parent, path.name  # RUN_DIR/<arch>: resume that arch only
    return path, None


def open_run(resume: str | os.PathLike) -> tuple[Path, TrainConfig, list[str]]:
    """(run folder, its config, archs to run) for --resume; RunError naming the file and the field
    when config.json is not a run configuration this trainer can continue."""
    path, arch = _run_folder_of(resume)
    file = path / "config.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: no config.json; --resume takes a run folder written by gcam-train") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{file}: cannot read it ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise RunError(f"{file}: not a run configuration of this trainer")
    try:
        cfg = TrainConfig.from_saved(data.get("config"))
    except ValueError as exc:
        raise RunError(f"{file}: {exc}; cannot resume this run") from None
    if arch and arch not in cfg.archs:
        raise RunError(f"{path}: the run has no arch {arch} (it trains {', '.join(cfg.archs)})")
    return path, cfg, [arch] if arch else list(cfg.archs)


def _auto_workers(cfg: TrainConfig, cached: bool, processes: int = 1) -> int:
    if cfg.workers is not None:
        return cfg.workers
    if getattr(sys, "frozen", False) or cached:
        # Frozen: child processes would start the app again. Cached: nothing left to offload.
        return 0
    return min(4, max(1, (os.cpu_count() or 2) // 2 // max(1, processes)))


def _decode(paths: list[Path], size: int, keep: bool, world=None):
    """Decode (check) every image once; with several processes each decodes a contiguous share,
    and the failures (and the decoded arrays, when kept) are gathered, so every process ends with
    what one process decoding all of them would have."""
    import torch

    from gcam_desktop.distributed import World, shard_bounds
    from .progress import progress_bar

    world = world or World.single(torch.device("cpu"))
    lo, hi = shard_bounds(len(paths), world.size, world.rank)
    mine = paths[lo:hi]
    bar = progress_bar(len(mine), 0, "checking images", unit="image")
    if bar is None:
        log.info("checking %d images%s%s", len(mine), f" of {len(paths)}" if world.distributed else "",
                 " (kept in memory)" if keep else "")
    threads = max(1, min(8, os.cpu_count() or 1) // world.local_size)
    arr, failures = decode_all(mine, size, keep, workers=threads,
                               progress=(lambda _: bar.update(1)) if bar else None)
    if bar is not None:
        bar.close()
    for f in failures:
        log.warning("skipping %s: %s", f["path"], f["reason"])
    if world.distributed:
        failures = [f for part in world.gather(failures) for f in part]
        if keep:
            counts = [b - a for a, b in (shard_bounds(len(paths), world.size, r) for r in range(world.size))]
            arr = world.gather_rows(torch.from_numpy(arr), counts).numpy()
    return arr, failures


def prepare(cfg: TrainConfig, split: DatasetSplit | None = None, world=None) -> tuple:
    """Check every image once; (split, PreparedData, CacheChoice). A new split unless one is
    given (resume). The decoded images stay in memory when the cache budget allows."""
    import numpy as np
    import torch

    from .batches import ImageSet
    from .loop import PreparedData

    size = cfg.input_size
    copies = world.local_size if world is not None else 1
    if split is None:
        listing = find_dataset(cfg.data, warn=log.warning)
        # Before decoding: a class too small for validation is refused in seconds, not minutes.
        check_validation_possible(listing_counts(listing), cfg.val_fraction, cfg.test_fraction,
                                  allow=cfg.allow_unvalidated_classes)
        paths = [p for part in listing.parts.values() for p, _ in part]
        choice = choose_cache(len(paths), size, cfg.cache_gb, copies)
        log.info("%s", choice.reason)
        arr, failures = _decode(paths, size, choice.cached, world)
        split = build_split(listing, failures, cfg.val_fraction, cfg.test_fraction, cfg.seed, warn=log.warning,
                            allow_unvalidated=cfg.allow_unvalidated_classes)
        from .duplicates import check_duplicates  # near-duplicates across splits; --dedup

        split = check_duplicates(cfg, listing, failures, split, world=world)
        row_of = {str(p): i for i, p in enumerate(paths)}
        root = Path(split.root)
        rows = {s: [row_of[str(root / p)] for p, _ in split.items(s)] for s in ("train", "val", "test")}
    else:
        root = Path(split.root)
        if not root.is_dir():
            raise DataError(f"{root}: the run's data folder is gone; it must stay in place to resume")
        paths = [root / p for s in ("train", "val", "test") for p, _ in split.items(s)]
        choice = choose_cache(len(paths), size, cfg.cache_gb, copies)
        log.info("%s", choice.reason)
        arr, failures = _decode(paths, size, choice.cached, world)
        if failures:
            raise DataError(f"{len(failures)} images of the saved split can no longer be read (first: "
                            f"{failures[0]['path']}: {failures[0]['reason']}); cannot resume exactly")
        counts = [len(split.items(s)) for s in ("train", "val", "test")]
        starts = [0, counts[0], counts[0] + counts[1]]
        rows = {s: list(range(b, b + n)) for s, b, n in zip(("train", "val", "test"), starts, counts)}

    items = {s: split.items(s) for s in ("train", "val", "test")}
    shuffle = None
    if cfg.shuffle_labels:  # derived from the seed, new run or resumed: split.json keeps the true labels
        items["train"], shuffle = shuffle_train_labels(split, cfg.seed)
        log.info("--shuffle-labels: training on a permutation of the training labels (%d of %d changed, "
                 "stream %s); validation and test keep their true labels", shuffle["changed"],
                 shuffle["train_images"], shuffle["stream"])
    sets = {}
    for s in ("train", "val", "test"):
        cache = None
        if arr is not None:
            idx = np.asarray(rows[s], dtype=np.int64)
            cache = torch.from_numpy(arr[idx]).permute(0, 3, 1, 2).contiguous() if len(idx) else \
                torch.zeros((0, 3, size, size), dtype=torch.uint8)
        sets[s] = ImageSet(root, items[s], size, cache)
    data = PreparedData(split.root, list(split.class_names), sets, list(split.skipped), shuffle)
    return split, data, choice


def train(cfg: TrainConfig | None = None, *, resume: str | os.PathLike | None = None,
          on_event: EventSink | None = None, stop: StopFlag | None = None,
          device: str | None = None, workers: int | None = None,
          after_arch: AfterArch | None = None, cache_gb: float | None = None) -> dict:
    """Train every arch of `cfg` (or continue the run at `resume`); the Python API of gcam-train.

    Events go to `on_event` as dicts (the CLI writes them as JSON lines); `stop.set()` from
    another thread or a signal handler ends the current step and saves a resumable last.pt.
    `device` / `workers` / `cache_gb` override the configuration (also when resuming). Returns
    {"status": "finished" | "stopped", "run_dir": str, "results": {arch: {...}}}.
    Raises DataError / RunError / ValueError / CheckpointError for problems the user can fix, and
    run_folder.FolderBusy while another run holds the run folder (held here until the run ends).
    Under torchrun (WORLD_SIZE > 1) this joins the process group and trains with
    DistributedDataParallel; only rank 0 calls `on_event` and writes files.
    """
    from gcam_desktop.distributed import init_world

    stop = stop if stop is not None else StopFlag()
    if resume is not None:
        run_dir, cfg, archs = open_run(resume)
        split = DatasetSplit.load(run_dir / "split.json")
    else:
        if cfg is None:
            raise ValueError("train() needs a TrainConfig or resume=RUN_DIR")
        cfg = TrainConfig.from_json(cfg.to_json())  # a copy: the caller's object stays as given
        if not cfg.data:
            raise ValueError("--data: name the image folder to train on")
        cfg.validate()
        run_dir, archs, split = None, list(cfg.archs), None
        try:
            cfg.data = str(Path(cfg.data).expanduser().resolve())
        except (OSError, RuntimeError):  # Python raises RuntimeError for a symlink loop
            from gcam_desktop.files import why_missing

            raise DataError(f"{cfg.data}: {why_missing(cfg.data, 'folder')}") from None
    if device is not None:
        cfg.device = device
    if workers is not None:
        cfg.workers = workers
    if cache_gb is not None:
        cfg.cache_gb = cache_gb
    world = init_world(cfg.device)
    try:
        with RunClaim() as claim:  # rank 0's, held until the run ends
            return _train(cfg, world, run_dir, archs, split, resume is not None,
                          _emitter(on_event if world.main else None), stop, after_arch, claim)
    finally:
        world.close()


def _train(cfg: TrainConfig, world, run_dir: Path | None, archs: list[str], split: DatasetSplit | None,
           resuming: bool, emit, stop: StopFlag, after_arch: AfterArch | None, claim: RunClaim) -> dict:
    import torch

    from .loop import ArchTrainer

    problem = batch_problem(cfg.batch_size, world.size)
    if problem:
        raise ValueError(problem)
    if run_dir is None:
        run_dir = world.from_main(lambda: claim_new_run_dir(cfg, claim))
        cfg.out = str(run_dir.resolve())
    else:
        world.from_main(lambda: claim_resumed(run_dir, archs, claim))
    if resuming:  # the probe images the run began with (none for a run made before the probe)
        try:
            probe = recorded_choice(run_dir / "config.json", split.items("val"))
        except ProbeError as exc:
            raise RunError(f"{exc}; cannot resume this run") from None
    split, data, choice = prepare(cfg, split, world)
    per_rank = cfg.batch_size // world.size
    if not resuming:
        probe = choose_probe(split.items("val"), cfg.probe, cfg.seed)
        world.from_main(lambda: _write_new_run(run_dir, cfg, split, torch.__version__,
                                               {**world.describe(), "per_rank_batch": per_rank},
                                               data.label_shuffle, probe))
    world.barrier()  # the run folder exists before any process writes under it
    n_workers = _auto_workers(cfg, choice.cached, world.local_size)
    started = {**world.describe(), "per_rank_batch": per_rank,
               "data_loading": {**choice.to_json(), "workers": n_workers}}
    sizes = data.sizes()
    log.info("data %s: %d classes; %d train, %d val, %d test images%s; run folder %s; device %s%s",
             split.root, len(split.class_names), sizes["train"], sizes["val"], sizes["test"],
             f"; {len(split.skipped)} skipped" if split.skipped else "", run_dir, world.device,
             f"; process {world.rank} of {world.size} ({world.backend}), {per_rank} images per process and step"
             if world.distributed else "")
    if cfg.sync_bn and not world.distributed:
        log.info("--sync-bn: one process, nothing to synchronise; plain batch norm")

    results: dict[str, dict] = {}
    for arch in archs:
        arch_dir = run_dir / arch
        done = _finished_report(arch_dir)
        if done is not None:
            log.info("%s: already finished (%s)", arch, arch_dir / "report.json")
            results[arch] = _replay_finished(emit, arch, arch_dir, done)
        else:
            trainer = ArchTrainer(cfg, arch, data, arch_dir, emit, stop, world.device, n_workers, world, started,
                                  probe)
            result = trainer.run()
            results[arch] = result
            if result["status"] == "stopped":
                return {"status": "stopped", "run_dir": str(run_dir), "results": results}
        if after_arch is not None:
            after_arch(arch, results[arch])
    emit("all_finished", archs=list(archs), run_dir=str(run_dir),
         results={a: {k: r.get(k) for k in ("split", "accuracy", "best_val_acc", "best", "report")}
                  for a, r in results.items()})
    return {"status": "finished", "run_dir": str(run_dir), "results": results}


def batch_problem(batch_size: int, processes: int) -> str | None:
    """Why a global batch cannot be split among `processes`, or None when it can."""
    if batch_size % processes or batch_size < 2 * processes:
        return (f"--batch-size {batch_size} is the global batch: it must be a multiple of the {processes} "
                f"processes, and at least 2 per process (batch norm)")
    return None


def _write_new_run(run_dir: Path, cfg: TrainConfig, split: DatasetSplit, torch_version: str,
                   distributed: dict, label_shuffle: dict | None = None, probe: ProbeChoice | None = None) -> None:
    """config.json and split.json of a new run; a run refused here leaves neither behind (nor
    the folder, which RunClaim removes when the run made it). With --shuffle-labels, config.json
    also says how the labels were shuffled (split.json keeps the true ones); with --probe, which
    images the probe explains (a resumed run reads them back from here)."""
    record = {"format": RUN_FORMAT, "version": 1,
              "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "torch": torch_version, "config": cfg.to_json(), "distributed": distributed}
    if label_shuffle is not None:
        record["shuffled_labels"] = label_shuffle
    if probe is not None:
        record["probe"] = probe.to_json()
    json.dumps(record, allow_nan=False)  # a ValueError now, before anything is written
    try:
        write_json(run_dir / "config.json", record)
        split.save(run_dir / "split.json")
    except BaseException:
        for name in ("split.json", "config.json"):
            (run_dir / name).unlink(missing_ok=True)
        raise


def _finished_report(arch_dir: Path) -> dict | None:
    try:
        return json.loads((arch_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _replay_finished(emit, arch: str, arch_dir: Path, report: dict) -> dict:
    """An arch finished in an earlier session: its `finished` event again, from report.json."""
    best = str(arch_dir / "best.pt")
    emit("finished", arch=arch, split=report.get("split", "test"), accuracy=report.get("accuracy"),
         loss=report.get("loss"), metrics={k: report.get(k) for k in ("accuracy", "per_class", "confusion")},
         report=str(arch_dir / "report.json"), best=best, best_epoch=int(report.get("best_epoch", 0)),
         best_val_acc=report.get("best_val_acc"), shuffled_labels=bool(report.get("shuffled_labels")),
         note=report.get("note") if isinstance(report.get("note"), str) else None)
    return {"status": "finished", "arch": arch, "split": report.get("split", "test"), "accuracy": report.get("accuracy"),
            "best_val_acc": report.get("best_val_acc"), "best": best, "report": str(arch_dir / "report.json")}
