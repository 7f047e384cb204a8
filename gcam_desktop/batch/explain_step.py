"""One batch of a run: load its images, explain them with every model of the plan, and return
the prediction rows and the maps to write. Nothing is written here (writer.py does that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from gcam_desktop.batch.names import shown
from gcam_desktop.batch.plan import Fail, Plan

MIN_PREDICTIONS = 5  # predictions.csv lists at least the top 5 classes of each image and model


@dataclass
class MapJob:
    """One map's two files: the overlay picture (RGB) and the raw map, for `source`."""
    png: Path
    npy: Path
    picture: np.ndarray
    raw: np.ndarray
    source: str  # the image, as shown


@dataclass
class Explained:
    images: int = 0  # images of the batch that loaded
    rows: list[dict[str, Any]] = field(default_factory=list)  # "overlay"/"raw": a Path, or None
    maps: list[MapJob] = field(default_factory=list)


def explain_batch(plan: Plan, batch: list[tuple[Path, PurePath]], fail: Fail, images_left: int) -> Explained:
    """The rows and maps of `batch`; a bad image or a failing model is reported and left out.
    A model the request does not fit (the same for every image) is removed from the plan."""
    from gcam_desktop.imaging.preprocess import preprocess_batch

    images, kept = _load(batch, plan, fail)
    result = Explained(images=len(kept))
    if not kept:
        return result
    pictures = [_display_image(im, plan.max_side) for im in images] if plan.models else []
    for spec in list(plan.models):
        if not plan.explains(spec):  # no such class: its predictions only
            probs = _probabilities(spec.model, preprocess_batch(images, spec.meta))
            for i, (path, _) in enumerate(kept):
                result.rows += _prediction_rows(path, spec, probs[i], {}, plan.top_k)
            continue
        ex = _run_method(plan, spec, images, kept, fail, images_left)
        if ex is not None:
            _add_maps(plan, spec, ex, kept, pictures, result)
    return result


def _load(batch, plan: Plan, fail: Fail) -> tuple[list, list]:
    from gcam_desktop.imaging import ImageLoadError, load_image

    need = plan.need()
    images, kept = [], []
    for path, rel in batch:
        try:
            images.append(load_image(path, min_size=need))
            kept.append((path, rel))
        except ImageLoadError as exc:
            fail(shown(path), exc.reason)
        except Exception as exc:  # the loader's contract is ImageLoadError; be safe anyway
            fail(shown(path), f"{type(exc).__name__}: {exc}")
    return images, kept


def _run_method(plan: Plan, spec, images, kept, fail: Fail, images_left: int):
    from gcam_desktop.explain.engine import explain
    from gcam_desktop.imaging.preprocess import preprocess_batch

    try:
        return explain(spec.model, preprocess_batch(images, spec.meta), method=plan.method, layer=plan.layer or None,
                       targets=plan.target_of[id(spec)], top_k=1 if plan.target is not None else plan.top_k,
                       **plan.options)
    except ValueError as exc:
        # The request does not fit this model (e.g. `cam` without a linear head): the same
        # for every image, so said once and the model is left out.
        plan.models.remove(spec)
        fail(spec.name, f"{plan.method}: {exc} (model skipped for the remaining {images_left} image(s))")
    except Exception as exc:
        for path, _ in kept:
            fail(f"{shown(path)} [{spec.name}]", f"{plan.method} failed: {type(exc).__name__}: {exc}")
    return None


def _add_maps(plan: Plan, spec, ex, kept, pictures, result: Explained) -> None:
    from gcam_desktop.explain.overlay import overlay

    maps = ex.maps.detach().float().cpu().numpy()
    raws = ex.raw.detach().float().cpu().numpy()
    probs = ex.probs.detach().float().cpu().numpy()
    classes = ex.classes.detach().cpu().numpy()
    for i, (path, rel) in enumerate(kept):
        explained = {}
        for k, cls in enumerate(classes[i]):
            tag = f"class{int(cls)}" if plan.target is not None else f"top{k + 1}"
            png, npy = plan.map_files(spec, rel, tag)
            picture = overlay(pictures[i], maps[i, k], plan.alpha, plan.cmap)
            result.maps.append(MapJob(png, npy, picture, raws[i, k], shown(path)))
            explained[int(cls)] = (png, npy)
        result.rows += _prediction_rows(path, spec, probs[i], explained, plan.top_k)


def _prediction_rows(path: Path, spec, probs: np.ndarray, explained: dict[int, tuple[Path, Path]],
                     top_k: int) -> list[dict]:
    """The top max(5, top_k) classes and every explained one, by rank; "overlay" and "raw" are
    the map files to be (the writer keeps only those it wrote)."""
    names = list(spec.meta.get("class_names") or [])
    ranks = np.argsort(-probs, kind="stable")
    shown_classes = set(int(c) for c in ranks[:max(MIN_PREDICTIONS, top_k)]) | set(explained)
    rows = []
    for rank, cls in enumerate(ranks, start=1):
        cls = int(cls)
        if cls not in shown_classes:
            continue
        png, npy = explained.get(cls, (None, None))
        rows.append({"file": shown(path), "model": spec.name, "rank": rank,
                     "class": names[cls] if cls < len(names) else str(cls), "class_index": cls,
                     "probability": f"{float(probs[cls]):.6f}", "overlay": png, "raw": npy})
    return rows


def _display_image(img, max_side: int) -> np.ndarray:
    """The picture the overlay is drawn on: the original, shrunk to max_side (0 = as is)."""
    from PIL import Image

    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.BILINEAR)
    return np.asarray(img.convert("RGB"))


def _probabilities(model, x) -> np.ndarray:
    """N x classes softmax of a plain forward pass (no map asked for)."""
    import torch

    from gcam_desktop.explain.model_state import forward_logits, model_device

    device, dtype = model_device(model)
    with torch.no_grad():
        return torch.softmax(forward_logits(model, x.to(device=device, dtype=dtype)).float(), dim=1).cpu().numpy()
