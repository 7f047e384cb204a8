"""Everything a batch run writes under its output folder: the maps (overlay PNG + raw .npy)
and predictions.csv, from one writer thread, so PNG encoding and disk writes overlap the next
batch's forward pass.

A batch's rows are written after its maps, and name only the map files that were written
(a map not completely written gets a row with no map): an interruption, a full disk or an over-long name never
leaves a row pointing at nothing. predictions.csv grows as batches finish (files.GrowingFile:
a failed write keeps the rows before it). Counts go into the report on the writer thread,
rows and count together, where no Ctrl+C can come between them; failures are told to the
caller's on_error on the caller's thread (`announce`)."""

from __future__ import annotations

import csv
import io
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gcam_desktop.batch.explain_step import Explained, MapJob
from gcam_desktop.batch.names import csv_cell, shown
from gcam_desktop.files import GrowingFile, WriteError, atomic_write, write_reason

CSV_COLUMNS = ("file", "model", "rank", "class", "class_index", "probability", "overlay", "raw")
MAX_PENDING_WRITES = 64  # outputs (a few MB each at most) waiting for the writer thread


class PredictionsCsv:
    """predictions.csv in UTF-8, a batch of rows at a time; every text cell a spreadsheet would
    run as a formula is neutralised (names.csv_cell). close() moves it into place, also after
    an interruption or a failed write (GrowingFile), so an earlier predictions.csv stays whole
    until then."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = GrowingFile(path)
        self.add([], header=True)

    def add(self, rows: Sequence[Mapping[str, Any]], header: bool = False) -> None:
        text = io.StringIO()
        # CRLF line ends (RFC 4180): with "\n" alone, Python's csv leaves a cell holding a CR (a
        # file may be named so) unquoted, and a reader splits the row there.
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        if header:
            writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
        # names.shown() made every path UTF-8 already; a class name from a checkpoint could
        # still hold a lone surrogate, shown the same way rather than failing the run.
        self.file.append(text.getvalue().encode("utf-8", "backslashreplace"))

    def close(self) -> Path:
        return self.file.close()


class OutputWriter:
    """The writer thread and what it has done. `hold`: keep the rows (by batch) instead of
    writing them, for the processes of a distributed run (rank 0 writes them all)."""

    def __init__(self, out: Path, report, predictions: PredictionsCsv | None, hold: bool = False) -> None:
        self.out, self.report, self.predictions, self.hold = out, report, predictions, hold
        self.held: dict[int, tuple[list, int]] = {}  # batch start -> (rows, images finished)
        self.broken = False  # predictions.csv cannot be written: the run should stop
        self._unsaid: deque[tuple[str, str]] = deque()
        self._pending: deque[tuple[Future, int]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcam-explain-write")

    def submit(self, key: int, explained: Explained) -> None:
        """Queue a batch; waits while too many outputs are queued (a slow disk must not let
        finished pictures pile up in memory)."""
        self._pending.append((self._pool.submit(self._write, key, explained), 2 * len(explained.maps)))
        while self._pending and (self._pending[0][0].done()
                                 or sum(n for _, n in self._pending) > MAX_PENDING_WRITES):
            self._pending.popleft()[0].result()

    def announce(self, on_error: Callable[[str, str], None] | None) -> None:
        """Tell on_error what failed on the writer thread since the last call."""
        while self._unsaid:
            what, why = self._unsaid.popleft()
            if on_error:
                on_error(what, why)

    def close(self) -> dict[int, tuple[list, int]]:
        """Wait for every queued write (the batches already explained still land)."""
        self._pool.shutdown(wait=True)
        self._pending.clear()
        return self.held

    # ---------------------------------------------------------------- on the writer thread

    def _fail(self, what: str, why: str) -> None:
        self.report.failures.append((what, why))
        self._unsaid.append((what, why))

    def _write(self, key: int, explained: Explained) -> None:
        try:
            if self.broken:
                return  # rows could not be recorded: their maps are not written either
            written = {f for job in explained.maps for f in self._write_map(job)}
            rows = [_with_files(row, written, self.out) for row in explained.rows]
            if rows and self.hold:
                self.held[key] = (rows, explained.images)
            elif rows and self.predictions is not None:
                self._add_rows(rows, explained.images)
        except Exception as exc:  # a bug must not end the run without a word
            self._fail("writing the outputs", f"{type(exc).__name__}: {exc}")

    def _add_rows(self, rows: list[dict], images: int) -> None:
        try:
            self.predictions.add(rows)
        except WriteError as exc:
            self.broken = True
            self._fail(shown(exc.path), f"{exc.reason}; the rows written before are kept")
            return
        self.report.finished += images

    def _write_map(self, job: MapJob) -> list[Path]:
        """The two files of `job` once both are written, else none: a map counts, and its row
        names it, only whole (a lone .npy stays on disk, unnamed)."""
        done = []
        for target, save, data in ((job.png, _save_png, job.picture), (job.npy, _save_npy, job.raw)):
            try:
                save(target, data)
                done.append(target)
                self.report.written.append(target)
            except Exception as exc:
                self._fail(shown(target), f"cannot write the output of {job.source}: "
                                          f"{write_reason(exc, target.parent)}")
        if len(done) == 2:
            self.report.maps += 1
            return done
        self.report.maps_failed += 1
        return []


def _with_files(row: dict, written: set[Path], out: Path) -> dict:
    """The row with "overlay" and "raw" as paths under `out`, or empty for a file not written."""
    return {**row, **{k: row[k].relative_to(out).as_posix() if row[k] in written else ""
                      for k in ("overlay", "raw")}}


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
