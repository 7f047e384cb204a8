"""Explain folders of images with several models and write the results to files: overlay
PNGs, raw maps (.npy) and one predictions.csv, whose rows are written as images finish. Qt-free; `gcam-explain` and the app's batch
export both call `explain_paths`."""

from __future__ import annotations

import csv
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from gcam_desktop.files import atomic_write
from gcam_desktop.explain import METHODS
from gcam_desktop.explain.overlay import COLORMAPS, overlay
from gcam_desktop.models.knowledge import class_index

CSV_COLUMNS = ("file", "model", "rank", "class", "class_index", "probability", "overlay", "raw")
MIN_PREDICTIONS = 5  # predictions.csv lists at least the top 5 classes of each image and model
MAX_PENDING_WRITES = 64  # outputs (a few MB each at most) waiting for the writer thread


@dataclass
class ModelSpec:
    """A model ready to explain with, under the name its outputs are filed by."""

    name: str
    model: Any  # torch.nn.Module
    meta: Mapping


@dataclass
class BatchReport:
    images: int = 0  # image files found
    finished: int = 0  # images explained with every usable model, their rows in predictions.csv
    maps: int = 0  # (image, model, class) maps whose overlay and raw map are both on disk
    maps_failed: int = 0  # maps computed but not (completely) written
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    predictions_csv: Path | None = None
    cancelled: bool = False  # stopped on request or interrupted (Ctrl+C, SIGTERM) before the end
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled


# ------------------------------------------------------------------------------------ inputs

def collect_images(paths: Iterable[str | os.PathLike],
                   on_error: Callable[[str, str], None] | None = None) -> list[tuple[Path, PurePath]]:
    """Image files under `paths` (files or folders, folders recursively, in natural order),
    each with the relative name its outputs get: a folder's own name, then the path inside it.
    A file named twice counts once; two different files with one relative name get suffixes."""
    from gcam_desktop.imaging import scan_folder

    def report(path, message):
        if on_error:
            on_error(str(path), message)

    found: list[tuple[Path, PurePath]] = []
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = [(p, PurePath(root.resolve().name or "root", p.relative_to(root)))
                     for p in scan_folder(root, on_error=report)]
            if not files:
                report(root, "no images in this folder")
        elif root.is_file():
            files = [(root, PurePath(root.name))]  # not filtered by extension: the loader judges
        else:
            from gcam_desktop.files import why_missing

            report(root, why_missing(root))
            continue
        for path, rel in files:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((path, rel))
    return _unique_names(found)


def _unique_names(found: list[tuple[Path, PurePath]]) -> list[tuple[Path, PurePath]]:
    taken: set[str] = set()
    out = []
    for path, rel in found:
        candidate, n = rel, 2
        while str(candidate.with_suffix("")).lower() in taken:
            candidate = rel.with_name(f"{rel.stem}_{n}{rel.suffix}")
            n += 1
        taken.add(str(candidate.with_suffix("")).lower())
        out.append((path, candidate))
    return out


# ----------------------------------------------------------------------------------- writing

def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """write(file) into a temp file beside `path`, then os.replace: a reader never sees half a
    file. No fsync: these outputs can be made again, and a sync per map would cost seconds."""
    def to_file(tmp: str) -> None:
        with open(tmp, "wb") as fh:   # a handle: np.save given a path would append ".npy"
            write(fh)

    atomic_write(path, to_file, fsync=False)


def _save_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    _atomic_write(path, lambda fh: Image.fromarray(rgb).save(fh, format="PNG", compress_level=3))


def _save_npy(path: Path, array: np.ndarray) -> None:
    _atomic_write(path, lambda fh: np.save(fh, np.ascontiguousarray(array, dtype=np.float32)))


class PredictionsCsv:
    """predictions.csv written as the rows come: an interrupted run keeps what it finished.

    Rows go to a hidden file beside it, flushed after each batch; close() moves it into place
    (also after an interruption), so an earlier predictions.csv stays whole until then."""

    def __init__(self, path: Path) -> None:
        from gcam_desktop.files import WriteError, write_reason

        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.tmp, "w", encoding="utf-8", newline="")
            self.writer = csv.DictWriter(self.fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
            self.writer.writeheader()
            self.fh.flush()
        except OSError as exc:
            raise WriteError(path, write_reason(exc, path.parent), exc.errno) from None

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        from gcam_desktop.files import WriteError, write_reason

        try:
            self.writer.writerows(rows)
            self.fh.flush()
        except OSError as exc:
            raise WriteError(self.path, write_reason(exc, self.path.parent), exc.errno) from None

    def close(self) -> Path:
        from gcam_desktop.files import WriteError, write_reason

        try:
            self.fh.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            Path(self.tmp).unlink(missing_ok=True)
            raise WriteError(self.path, write_reason(exc, self.path.parent), exc.errno) from None
        return self.path


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in str(name)).strip("._")
    return keep or "model"


# ------------------------------------------------------------------------------ batch export

def explain_paths(paths: Iterable[str | os.PathLike], models: Sequence[ModelSpec | tuple],
                  out_dir: str | os.PathLike, *, method: str = "gradcam", layer: str | None = None,
                  target: int | str | None = None, top_k: int = 1, options: Mapping[str, Any] | None = None,
                  batch_size: int = 8, cmap: str = "turbo", alpha: float = 0.5, max_side: int = 1024,
                  on_progress: Callable[[int, int, str], None] | None = None,
                  on_error: Callable[[str, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, world: Any = None) -> BatchReport:
    """Explain every image under `paths` with every model; write overlays, raw maps and
    predictions.csv under `out_dir`. Never raises for a bad image, model or write: each is
    reported through on_error(what, why), listed in the report, and the run goes on.

    models: ModelSpec or (name, model, meta) tuples; each model is used on its own device,
        with its checkpoint's preprocessing (meta: input_size, mean, std, class_names).
    layer: None = each model's default layer. target: one class for all images (an index, or a
        class name looked up in each model; models without it are left out), or None for the
        top_k most probable classes of each image.
    on_progress(done, total, path) after each image; should_stop() is asked between batches.
    world: a gcam_desktop.distributed.World of several processes (torchrun): each explains every
        world.size-th batch (the batches one process would make, so the same maps, byte for byte);
        the rows are gathered and rank 0 writes predictions.csv in one process's order; the
        report's counts and failures are those of all processes.
    """
    from gcam_desktop.imaging import ImageLoadError, load_image
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.explain.engine import explain, method_options

    t0 = time.perf_counter()
    out = Path(out_dir)
    report = BatchReport()
    models = [m if isinstance(m, ModelSpec) else ModelSpec(*m) for m in models]
    options = dict(options or {})
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    unknown = sorted(set(options) - set(method_options(method)))
    if unknown:
        raise ValueError(f"{method} has no option {', '.join(unknown)}; its options: "
                         f"{', '.join(method_options(method)) or 'none'}")
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; valid colour maps: {', '.join(COLORMAPS)}")

    def fail(what: str, why: str) -> None:
        report.failures.append((what, why))
        if on_error:
            on_error(what, why)

    usable = [m for m in models if _model_usable(m, method, layer, target, top_k, fail)]
    # A class asked for by name is looked up in each model (their class sets may differ).
    target_of = {id(m): class_index(m.meta, target) if isinstance(target, str) else target for m in usable}
    items = collect_images(paths, on_error=fail)
    report.images = len(items)
    if not items:
        fail(", ".join(map(str, paths)) or "(no paths)", "no images to explain")
        report.seconds = time.perf_counter() - t0
        return report
    from gcam_desktop.files import WriteError, check_writable

    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    opened: list[PredictionsCsv] = []

    def open_out() -> None:
        check_writable(out)
        if rank == 0:
            opened.append(PredictionsCsv(out / "predictions.csv"))

    try:  # before any work: an unwritable --out fails now, in one line, not once per map
        # Several processes: rank 0 alone checks (two racing to create --out made one fail with
        # "file exists" and the other wait for it forever), and every process hears its verdict.
        world.from_main(open_out) if size > 1 else open_out()
        predictions = opened[0] if opened else None
    except WriteError as exc:
        fail(str(exc.path), f"cannot write: {exc.reason}; nothing was explained")
        report.seconds = time.perf_counter() - t0
        return report
    sizes = [int(m.meta.get("input_size", 224)) for m in usable] or [224]
    need = fit_request(max_side, max(sizes))
    pending: list[tuple[Future, Path, str, Any]] = []
    done = 0
    step = max(1, int(batch_size))
    starts = list(range(0, len(items), step))[rank::size]  # whole batches, dealt round-robin
    mine = sum(len(items[b:b + step]) for b in starts)
    held: dict[int, tuple[list, int]] = {}  # several processes: batch start -> (rows, images finished)
    # One writer thread: PNG encoding and disk writes overlap the next batch's forward pass.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcam-explain-write")
    try:
        for start in starts:
            if should_stop is not None and should_stop():
                report.cancelled = True
                break
            batch = items[start:start + step]
            images, kept = [], []
            for path, rel in batch:
                try:
                    images.append(load_image(path, min_size=need))
                    kept.append((path, rel))
                except ImageLoadError as exc:
                    fail(str(path), exc.reason)
                except Exception as exc:  # the loader's contract is ImageLoadError; be safe anyway
                    fail(str(path), f"{type(exc).__name__}: {exc}")
            pictures = [_display_image(im, max_side) for im in images] if usable else []
            rows: list[dict[str, Any]] = []
            for spec in list(usable) if kept else ():
                if isinstance(target, str) and target_of[id(spec)] is None:  # no such class: predictions only
                    probs = _probabilities(spec.model, preprocess_batch(images, spec.meta))
                    for i, (path, _) in enumerate(kept):
                        ranks = np.argsort(-probs[i], kind="stable")
                        rows.extend(_prediction_rows(path, spec, probs[i], ranks, {}, top_k, out))
                    continue
                try:
                    x = preprocess_batch(images, spec.meta)
                    ex = explain(spec.model, x, method=method, layer=layer or None,
                                 targets=target_of[id(spec)], top_k=1 if target is not None else top_k, **options)
                except ValueError as exc:
                    # The request does not fit this model (e.g. `cam` without a linear head):
                    # the same for every image, so said once and the model is left out.
                    usable.remove(spec)
                    left = len(items) - start
                    fail(spec.name, f"{method}: {exc} (model skipped for the remaining {left} image(s))")
                    continue
                except Exception as exc:
                    for path, _ in kept:
                        fail(f"{path} [{spec.name}]", f"{method} failed: {type(exc).__name__}: {exc}")
                    continue
                maps = ex.maps.detach().float().cpu().numpy()
                raws = ex.raw.detach().float().cpu().numpy()
                probs = ex.probs.detach().float().cpu().numpy()
                classes = ex.classes.detach().cpu().numpy()
                for i, (path, rel) in enumerate(kept):
                    ranks = np.argsort(-probs[i], kind="stable")
                    explained = {}
                    for k, cls in enumerate(classes[i]):
                        tag = f"class{int(cls)}" if target is not None else f"top{k + 1}"
                        base = out / _safe(spec.name) / rel.parent / f"{rel.stem}.{method}.{tag}"
                        png, npy = base.with_name(base.name + ".png"), base.with_name(base.name + ".npy")
                        colored = overlay(pictures[i], maps[i, k], alpha, cmap)
                        one_map = _MapWrites()
                        pending.append((writer.submit(_save_png, png, colored), png, str(path), one_map))
                        pending.append((writer.submit(_save_npy, npy, raws[i, k]), npy, str(path), one_map))
                        explained[int(cls)] = (png, npy)
                    rows.extend(_prediction_rows(path, spec, probs[i], ranks, explained, top_k, out))
            if rows and size > 1:  # written by rank 0 once all are gathered, in one process's order
                held[start] = (rows, len(kept))
            elif rows:
                try:
                    with _signals_held():  # the rows and the count land together, or neither
                        predictions.add(rows)
                        report.finished += len(kept)
                except WriteError as exc:
                    fail(str(exc.path), exc.reason)
                    report.cancelled = True
                    break
            for path, _ in batch:
                done += 1
                if on_progress:
                    on_progress(done, mine, str(path))
            # Back-pressure: a slow disk must not let finished pictures pile up in memory.
            pending = _collect_writes(pending, report, fail, keep=MAX_PENDING_WRITES)
    except KeyboardInterrupt:
        # Ctrl+C (or SIGTERM turned into one by the CLI): keep what is finished and say so.
        report.cancelled = True
    finally:
        writer.shutdown(wait=True)  # the writes already queued still land
        _collect_writes(pending, report, fail, keep=0)
        if size > 1:
            _gather_reports(world, report, held, predictions, fail)
        try:
            if predictions is not None:
                report.predictions_csv = predictions.close()
                report.written.append(report.predictions_csv)
        except WriteError as exc:
            fail(str(exc.path), exc.reason)
    report.seconds = time.perf_counter() - t0
    return report


def _gather_reports(world, report: BatchReport, held: dict, predictions, fail) -> None:
    """Every process's rows, counts and failures into `report`; rank 0 writes the rows by batch."""
    from gcam_desktop.files import WriteError

    parts = world.gather((held, report.failures, report.maps, report.maps_failed, report.cancelled))
    batches = {start: v for part in parts for start, v in part[0].items()}
    report.failures = list(dict.fromkeys(f for part in parts for f in part[1]))  # shared ones once
    report.maps = sum(part[2] for part in parts)
    report.maps_failed = sum(part[3] for part in parts)
    report.cancelled = any(part[4] for part in parts)
    report.finished = sum(n for _, n in batches.values())
    if predictions is None:
        return
    try:
        for start in sorted(batches):
            predictions.add(batches[start][0])
    except WriteError as exc:
        fail(str(exc.path), exc.reason)


def _model_usable(spec: ModelSpec, method: str, layer: str | None, target: int | None, top_k: int,
                  fail: Callable[[str, str], None]) -> bool:
    from gcam_desktop.explain import LAYER_METHODS

    n = int(spec.meta.get("num_classes") or len(spec.meta.get("class_names") or ()) or 0)
    layers = tuple(getattr(spec.model, "explainable_layers", ()))
    if layer and method in LAYER_METHODS and layers and layer not in layers:
        fail(spec.name, f"has no layer {layer!r}; its layers: {', '.join(layers)}")
        return False
    if isinstance(target, str):
        if class_index(spec.meta, target) is None:
            # As in the app's panels: the model's own predictions are still written, with no map.
            fail(spec.name, f"has no class \u201c{target}\u201d among its {n} classes: its predictions only, no map")
    elif target is not None and n and not 0 <= int(target) < n:
        fail(spec.name, f"has no class {target}: its classes are 0..{n - 1}")
        return False
    if target is None and n and top_k > n:
        fail(spec.name, f"has only {n} classes, fewer than --top-k {top_k}")
        return False
    return True


def fit_request(max_side: int, input_size: int):
    """What load_image needs at least: the overlay's size (the image fitted into max_side;
    all of it for 0) and the model input (input_size on both sides, squashed)."""
    def need(w: int, h: int) -> tuple[int, int]:
        if not max_side:
            return w, h
        scale = min(1.0, max_side / max(w, h))
        return max(input_size, round(w * scale)), max(input_size, round(h * scale))

    return need


def _display_image(img, max_side: int) -> np.ndarray:
    """The picture the overlay is drawn on: the original, shrunk to max_side (0 = as is)."""
    from PIL import Image

    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.BILINEAR)
    return np.asarray(img.convert("RGB"))


@contextmanager
def _signals_held():
    """Ctrl+C and SIGTERM wait until the block ends (POSIX, main thread): an interruption
    between writing a batch's rows and counting them made the summary say one image fewer
    than predictions.csv held."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a signal that came meanwhile is delivered now


def _probabilities(model, x) -> np.ndarray:
    """N x classes softmax of a plain forward pass (no map asked for)."""
    import torch

    from gcam_desktop.explain.model_state import forward_logits, model_device

    device, dtype = model_device(model)
    with torch.no_grad():
        return torch.softmax(forward_logits(model, x.to(device=device, dtype=dtype)).float(), dim=1).cpu().numpy()


def _prediction_rows(path: Path, spec: ModelSpec, probs: np.ndarray, ranks: np.ndarray,
                     explained: dict[int, tuple[Path, Path]], top_k: int, out: Path) -> list[dict]:
    names = list(spec.meta.get("class_names") or [])
    shown = set(int(c) for c in ranks[:max(MIN_PREDICTIONS, top_k)]) | set(explained)
    rows = []
    for rank, cls in enumerate(ranks, start=1):
        cls = int(cls)
        if cls not in shown:
            continue
        png, npy = explained.get(cls, (None, None))
        rows.append({
            "file": str(path), "model": spec.name, "rank": rank,
            "class": names[cls] if cls < len(names) else str(cls), "class_index": cls,
            "probability": f"{float(probs[cls]):.6f}",
            "overlay": png.relative_to(out).as_posix() if png else "",
            "raw": npy.relative_to(out).as_posix() if npy else "",
        })
    return rows


class _MapWrites:
    """The two files of one map (overlay PNG, raw .npy): it counts once both are written."""

    def __init__(self) -> None:
        self.left, self.failed = 2, False


def _collect_writes(pending, report: BatchReport, fail, keep: int):
    """Account for finished writes; wait for the oldest until at most `keep` are unfinished."""
    from gcam_desktop.files import write_reason

    left = []
    for n, (future, target, source, one_map) in enumerate(pending):
        if not future.done() and len(pending) - n <= keep:
            left.append((future, target, source, one_map))
            continue
        one_map.left -= 1
        try:
            future.result()
            report.written.append(target)
        except Exception as exc:
            if not one_map.failed:
                report.maps_failed += 1
            one_map.failed = True
            fail(str(target), f"cannot write the output of {source}: {write_reason(exc, target.parent)}")
        if one_map.left == 0 and not one_map.failed:
            report.maps += 1
    return left
