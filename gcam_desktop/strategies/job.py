"""A strategies run: every image of a folder explained through the batch code's explain step,
each map kept only as a small grid, near-duplicates collapsed first (deep hash), then per class
the spectral clustering and each cluster's summary. Qt-free; torch loads when a model runs.

Which class an image belongs to, and so which class its map explains: the folder's class where
the image's parent folder names one of the model's classes (every image must, or none counts as
labelled), else the model's prediction (docs/adr/0031).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from gcam_desktop.explain.progress import Cancelled
from gcam_desktop.strategies.grid import GRID, THUMB, square_thumb, to_grid
from gcam_desktop.strategies.result import ClassStrategies, Cluster, ImageEntry, StrategiesResult
from gcam_desktop.strategies.spectral import MAX_K, analyse

NEAREST = 8  # members listed as nearest a cluster's centre
THUMB_SOURCE = 64  # the explain step draws its picture at most this big: our thumbnail
Progress = Callable[[int, int, str], None]  # (done, total, stage): stage "duplicates", "explaining", "clustering"

__all__ = ["NEAREST", "Cancelled", "run_strategies", "summarise"]


def run_strategies(paths: Iterable[str | os.PathLike], model: Any, method: str = "gradcam",
                   layer: str | None = None, class_index: int | None = None, *, grid: int = GRID,
                   k: int | None = None, max_k: int = MAX_K, n_neighbors: int | None = None, seed: int = 0,
                   duplicates: bool = True, hash_model: Any = None, device: Any = None, batch_size: int = 16,
                   layout: bool = True, thumbnail_dir: str | os.PathLike | None = None,
                   progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                   on_error: Callable[[str, str], None] | None = None) -> StrategiesResult:
    """The strategies of `model` on the images under `paths` (files or folders, scanned as the
    batch code scans them).

    model: a batch ModelSpec or a (name, torch model, checkpoint meta) tuple.
    class_index: one class, or None for every class found. k: the number of clusters for every
        class (None: each class's eigengap decides). duplicates: collapse near-duplicates (deep
        hash, `hash_model`: a similarity.HashModel, a name pick_hash_model takes, or None for its
        default) before explaining. thumbnail_dir: where small PNGs of the images are written
        (their paths land in ImageEntry.thumbnail); None writes nothing.
    progress(done, total, stage) as it goes; cancelled() is asked between batches and raises
    `Cancelled` when it says yes. A bad image or an unfit model is reported through
    on_error(what, why) and listed in the result's failures; the run goes on without it.
    """
    from gcam_desktop.batch.explain_files import ModelSpec
    from gcam_desktop.batch.plan import collect_images

    t0 = time.perf_counter()
    spec = model if isinstance(model, ModelSpec) else ModelSpec(*model)
    failures: list[tuple[str, str]] = []

    def fail(what: str, why: str) -> None:
        failures.append((what, why))
        if on_error:
            on_error(what, why)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("strategies run stopped by the caller")

    items, _ = collect_images(list(paths), on_error=fail)
    names = [str(n) for n in (spec.meta.get("class_names") or [])]
    labels = _folder_labels([p for p, _ in items], spec.meta)
    labelled = bool(items) and all(lab is not None for lab in labels)
    if not labelled:
        labels = [None] * len(items)
    if class_index is not None and labelled:  # only that class folder's images need a map
        keep = [i for i, lab in enumerate(labels) if lab == class_index]
        items, labels = [items[i] for i in keep], [labels[i] for i in keep]
    copies: dict[int, list[str]] = {}
    if duplicates and len(items) > 1:
        items, labels, copies = _collapse(items, labels, hash_model, device, fail, progress, check)
    check()
    found = _explain(items, labels, spec, method, layer, class_index, grid, batch_size, thumbnail_dir, fail,
                     progress, check)
    by_class: dict[int, list[int]] = {}
    for row, (index, entry, _, _) in enumerate(found):
        cls = entry.label if labelled else entry.predicted
        if class_index is None or cls == class_index:
            by_class.setdefault(cls, []).append(row)
    classes = []
    for n_done, (cls, rows) in enumerate(sorted(by_class.items())):
        check()
        if progress:
            progress(n_done, len(by_class), "clustering")
        entries = [found[r][1] for r in rows]
        for r, e in zip(rows, entries):
            e.duplicates = copies.get(found[r][0], [])
        grids = np.stack([found[r][2] for r in rows])
        thumbs = np.stack([found[r][3] for r in rows])
        clustering = analyse(grids, n_neighbors=n_neighbors, k=k, max_k=max_k, seed=seed, layout=layout)
        classes.append(ClassStrategies(cls, names[cls] if cls < len(names) else str(cls), entries, grids,
                                       clustering, summarise(grids, thumbs, entries, clustering),
                                       collapsed=sum(len(e.duplicates) for e in entries)))
    if progress:
        progress(len(by_class), len(by_class), "clustering")
    return StrategiesResult(spec.name, method, layer, grid, classes, names, labelled,
                            collapsed=sum(len(v) for v in copies.values()), failures=failures,
                            seconds=time.perf_counter() - t0)


def summarise(grids: np.ndarray, thumbs: np.ndarray, entries: Sequence[ImageEntry], clustering) -> list[Cluster]:
    """Each cluster's members, mean map, mean picture, accuracy and the members nearest its
    centre (Euclidean, in the spectral embedding k-means ran on)."""
    out = []
    for c in range(clustering.k):
        members = np.flatnonzero(clustering.labels == c)
        if members.size == 0:
            continue
        correct = [entries[m].correct for m in members]
        accuracy = None if any(v is None for v in correct) else float(np.mean(correct))
        emb = clustering.embedding[members]
        order = np.argsort(np.linalg.norm(emb - emb.mean(axis=0), axis=1), kind="stable")
        out.append(Cluster(c, members.tolist(), grids[members].mean(axis=0).astype(np.float32),
                           thumbs[members].mean(axis=0).round().astype(np.uint8), accuracy,
                           members[order[:NEAREST]].tolist()))
    return out


def _folder_labels(paths: Sequence[Path], meta) -> list[int | None]:
    """Each image's class from its parent folder's name (None where it names no class of the model)."""
    from gcam_desktop.models.knowledge import class_index as lookup

    cache: dict[str, int | None] = {}
    out = []
    for p in paths:
        name = Path(p).parent.name
        if name not in cache:
            cache[name] = lookup(meta, name)
        out.append(cache[name])
    return out


def _collapse(items, labels, hash_model, device, fail, progress, check):
    """Near-duplicates (deep hash within similarity.DEFAULT_THRESHOLD bits, the same class) folded
    into the first of their group: (items kept, their labels, kept row -> paths folded into it)."""
    from gcam_desktop.similarity import (DEFAULT_THRESHOLD, FingerprintCache, duplicate_groups, fingerprint_files,
                                         pairs_within, pick_hash_model)

    hm = hash_model if hash_model is not None and not isinstance(hash_model, str) else \
        pick_hash_model(hash_model, device)
    files = [p for p, _ in items]
    hashes, ok, failed = fingerprint_files(hm, files, FingerprintCache(hm.key),
                                           progress=(lambda d, t: progress(d, t, "duplicates")) if progress else None,
                                           should_stop=lambda: (check(), False)[1])
    for f in failed:
        fail(f["path"], f["reason"])
    rows = np.flatnonzero(ok)
    pairs = pairs_within(hashes[rows], DEFAULT_THRESHOLD)
    same = [(rows[i], rows[j]) for i, j, _ in pairs if labels[rows[i]] == labels[rows[j]]]
    dropped: set[int] = set()
    folded: dict[int, list[str]] = {}
    for group in duplicate_groups(len(items), np.array(same, np.int64).reshape(-1, 2)):
        head, rest = group[0], group[1:]
        folded[head] = [str(files[i]) for i in rest]
        dropped.update(rest)
    keep = [i for i in range(len(items)) if i not in dropped and ok[i]]
    new_row = {old: new for new, old in enumerate(keep)}
    return ([items[i] for i in keep], [labels[i] for i in keep],
            {new_row[h]: v for h, v in folded.items() if h in new_row})


def _explain(items, labels, spec, method, layer, class_index, grid, batch_size, thumbnail_dir, fail, progress,
             check) -> list[tuple[int, ImageEntry, np.ndarray, np.ndarray]]:
    """(item row, entry, grid map, THUMB picture) per image explained, in item order. Labelled
    images are explained for their folder's class, one pass per class; unlabelled ones for
    their prediction (or for `class_index`)."""
    from gcam_desktop.batch.explain_step import explain_batch
    from gcam_desktop.batch.plan import Plan, check_request, model_usable
    from gcam_desktop.files import shown

    check_request(method, {}, "gray")
    passes: dict[int | None, list[int]] = {}
    for row, lab in enumerate(labels):
        passes.setdefault(lab if lab is not None else class_index, []).append(row)
    total, done = len(items), 0
    out: list[tuple[int, ImageEntry, np.ndarray, np.ndarray]] = []
    thumbs_to = Path(thumbnail_dir) if thumbnail_dir is not None else None
    if thumbs_to is not None:
        thumbs_to.mkdir(parents=True, exist_ok=True)
    for target, rows in passes.items():
        if not model_usable(spec, method, layer, target, 1, fail):
            continue
        plan = Plan(out=thumbs_to or Path("."), method=method, layer=layer, target=target, top_k=1, options={},
                    cmap="gray", alpha=0.0, max_side=THUMB_SOURCE, models=[spec],
                    items=[items[r] for r in rows], target_of={id(spec): target})
        step = max(1, int(batch_size))
        for start in range(0, len(rows), step):
            check()
            if not plan.models:  # the method does not fit this model: said once by the step
                break
            batch_rows = rows[start:start + step]
            got = explain_batch(plan, [items[r] for r in batch_rows], fail, len(rows) - start)
            predicted = {}
            for r in got.rows:
                if r["rank"] == 1:
                    predicted[r["file"]] = (int(r["class_index"]), float(r["probability"]))
            maps = {m.source: m for m in got.maps}
            for row in batch_rows:
                key = shown(items[row][0])
                if key not in maps or key not in predicted:
                    continue
                job = maps[key]
                entry = ImageEntry(str(items[row][0]), labels[row], *predicted[key])
                if thumbs_to is not None:
                    entry.thumbnail = _write_thumbnail(thumbs_to, entry.path, job.picture, fail)
                out.append((row, entry, to_grid(job.raw, grid), square_thumb(job.picture, THUMB)))
            done += len(batch_rows)
            if progress:
                progress(done, total, "explaining")
    out.sort(key=lambda t: t[0])
    return out


def _write_thumbnail(folder: Path, path: str, picture: np.ndarray, fail) -> str | None:
    from PIL import Image

    from gcam_desktop.files import WriteError, atomic_write

    target = folder / f"{hashlib.sha1(os.fsencode(path)).hexdigest()[:20]}.png"
    try:
        atomic_write(target, lambda tmp: Image.fromarray(picture).save(tmp, format="PNG"), fsync=False)
    except (WriteError, OSError) as exc:
        fail(str(target), f"cannot write the thumbnail: {exc}")
        return None
    return str(target)
