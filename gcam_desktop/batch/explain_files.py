"""Explain folders of images with several models and write the results to files: overlay
PNGs, raw maps (.npy) and one predictions.csv, whose rows are written as images finish.
Qt-free; `gcam-explain` and the app's batch export both call `explain_paths`.

The run is three steps: plan.py (what to explain, where each output goes), explain_step.py
(one batch: images in, rows and maps out) and writer.py (the map files and predictions.csv).
This module strings them together, holds the output folder (one run at a time) and, in a
distributed run, gathers every process's rows."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from gcam_desktop.batch.explain_step import MIN_PREDICTIONS, explain_batch
from gcam_desktop.batch.names import shown
from gcam_desktop.batch.plan import Plan, check_request, collect_images, fit_request, make_plan
from gcam_desktop.batch.writer import CSV_COLUMNS, MAX_PENDING_WRITES, OutputWriter, PredictionsCsv
from gcam_desktop.files import WriteError
from gcam_desktop.run_folder import RunFolder

__all__ = ["CSV_COLUMNS", "MAX_PENDING_WRITES", "MIN_PREDICTIONS", "BatchReport", "ModelSpec",
           "collect_images", "explain_paths", "fit_request"]
PROGRAM = "gcam-explain"  # who holds the output folder, in a refusal's message


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
    skipped: int = 0  # paths named or found that are not image files (dangling links, FIFOs ...)
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    predictions_csv: Path | None = None
    cancelled: bool = False  # stopped on request or interrupted (Ctrl+C, SIGTERM) before the end
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled


def explain_paths(paths: Iterable[str | os.PathLike], models: Sequence[ModelSpec | tuple],
                  out_dir: str | os.PathLike, *, method: str = "gradcam", layer: str | None = None,
                  target: int | str | None = None, top_k: int = 1, options: Mapping[str, Any] | None = None,
                  batch_size: int = 8, cmap: str = "turbo", alpha: float = 0.5, max_side: int = 1024,
                  on_progress: Callable[[int, int, str], None] | None = None,
                  on_error: Callable[[str, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, world: Any = None,
                  folder: RunFolder | None = None) -> BatchReport:
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
    folder: the RunFolder of out_dir if the caller holds it already (gcam-explain claims it
        before loading models); otherwise it is claimed here, by rank 0, for the whole run, and
        a folder another run is writing is refused with one failure.
    Paths, in messages and in predictions.csv, are shown as names.shown() writes them.
    """
    t0 = time.perf_counter()
    report = BatchReport()
    options = dict(options or {})
    check_request(method, options, cmap)  # ValueError: a caller's mistake, not the data's

    def fail(what: str, why: str) -> None:
        report.failures.append((what, why))
        if on_error:
            on_error(what, why)

    out = Path(out_dir)
    plan = make_plan(paths, [m if isinstance(m, ModelSpec) else ModelSpec(*m) for m in models], out, fail,
                     method=method, layer=layer, target=target, top_k=top_k, options=options, cmap=cmap,
                     alpha=alpha, max_side=max_side)
    report.images, report.skipped = len(plan.items), plan.skipped
    if not plan.items:
        fail(", ".join(shown(p) for p in paths) or "(no paths)", "no images to explain")
    elif not plan.models:  # each model's reason is said above: no image is read for nothing
        fail(", ".join(m.name if isinstance(m, ModelSpec) else str(m[0]) for m in models) or "(no models)",
             "no model can serve this request; no image was explained")
    else:
        folder = folder or RunFolder(out, PROGRAM)
        _run_in_folder(plan, folder, report, fail, world, batch_size, on_progress, should_stop, on_error)
    report.seconds = time.perf_counter() - t0
    return report


def _run_in_folder(plan: Plan, folder: RunFolder, report: BatchReport, fail, world, batch_size: int,
                   on_progress, should_stop, on_error) -> None:
    """Claim the output folder (rank 0), open predictions.csv, run, and let the folder go."""
    from gcam_desktop.files import check_writable

    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    opened: list = []  # [the claim, predictions.csv], once made

    def open_out() -> None:
        check_writable(plan.out)
        opened.append(folder.claim())  # re-entrant: nested in the caller's claim, if any
        opened.append(PredictionsCsv(plan.out / "predictions.csv"))

    try:  # before any work: an unwritable or busy --out fails now, in one line, not once per map
        # Several processes: rank 0 alone (two racing to create --out made one fail with
        # "file exists" and the other wait for it forever), and every process hears its verdict.
        world.from_main(open_out) if size > 1 else open_out()
    except WriteError as exc:
        if opened:
            folder.release()
        fail(shown(exc.path), f"cannot write: {exc.reason}; nothing was explained")
        return
    try:
        writer = OutputWriter(plan.out, report, opened[1] if opened else None, hold=size > 1)
        _explain_batches(plan, writer, report, fail, rank, size, batch_size, on_progress, should_stop,
                         on_error)
        if size > 1:
            _gather_reports(world, report, writer.held, writer.predictions, fail)
        if writer.predictions is not None:
            _close_predictions(writer.predictions, report, fail)
    finally:
        if opened:
            folder.release()


def _explain_batches(plan: Plan, writer: OutputWriter, report: BatchReport, fail, rank: int, size: int,
                     batch_size: int, on_progress, should_stop, on_error) -> None:
    """This process's batches, explained here and written by `writer`; stops between batches
    on should_stop() or a broken predictions.csv, and on Ctrl+C keeps what is finished."""
    items, step = plan.items, max(1, int(batch_size))
    starts = list(range(0, len(items), step))[rank::size]  # whole batches, dealt round-robin
    mine, done = sum(len(items[b:b + step]) for b in starts), 0
    try:
        for start in starts:
            if (should_stop is not None and should_stop()) or writer.broken:
                report.cancelled = True
                break
            batch = items[start:start + step]
            writer.submit(start, explain_batch(plan, batch, fail, len(items) - start))
            writer.announce(on_error)
            for path, _ in batch:
                done += 1
                if on_progress:
                    on_progress(done, mine, shown(path))
    except KeyboardInterrupt:
        # Ctrl+C (or SIGTERM turned into one by the CLI): keep what is finished and say so.
        report.cancelled = True
    finally:
        writer.close()  # the batches already explained still land, rows with their maps
        writer.announce(on_error)
        report.cancelled = report.cancelled or writer.broken


def _close_predictions(predictions: PredictionsCsv, report: BatchReport, fail) -> None:
    try:
        report.predictions_csv = predictions.close()
        report.written.append(report.predictions_csv)
    except WriteError as exc:
        fail(shown(exc.path), exc.reason)


def _gather_reports(world, report: BatchReport, held: dict, predictions, fail) -> None:
    """Every process's rows, counts and failures into `report`; rank 0 writes the rows by batch."""
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
        fail(shown(exc.path), f"{exc.reason}; the rows written before are kept")
