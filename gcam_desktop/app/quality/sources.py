"""What the Quality tab scores: the models it is given, as QualityModel, and the jobs it sends
its worker. Plain data, no Qt."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class QualityModel:
    """A model to score: a checkpoint file, or (when there is none) an in-memory model whose
    weights are copied in the worker's thread."""

    name: str
    meta: Mapping = field(default_factory=dict, compare=False, hash=False)
    path: str | None = None
    model: Any = field(default=None, compare=False, hash=False)
    token: str | None = None  # the slot's loaded model (ModelInfo.token): sanity verdicts are keyed by it


def coerce_models(items: Iterable) -> list[QualityModel]:
    """QualityModel from QualityModel, mappings, or tuples (name, meta[, path[, model]])."""
    out = []
    for it in items or ():
        if isinstance(it, QualityModel):
            out.append(it)
        elif isinstance(it, Mapping):
            out.append(QualityModel(str(it["name"]), dict(it.get("meta") or {}), it.get("path"), it.get("model")))
        else:
            t = tuple(it)
            out.append(QualityModel(str(t[0]), dict(t[1] or {}) if len(t) > 1 else {},
                                    str(t[2]) if len(t) > 2 and t[2] else None, t[3] if len(t) > 3 else None))
    return out


def source_key(s: QualityModel) -> tuple:
    """Identity of a model's weights: a rewritten checkpoint file is another model."""
    if s.path:
        try:
            st = os.stat(s.path)
            return (s.name, s.path, st.st_mtime_ns, st.st_size)
        except OSError:
            return (s.name, s.path, 0, 0)
    return (s.name, None, id(s.model))


@dataclass(frozen=True)
class ScoreJob:
    """Score `paths` with every source model: the current image (one path, curves kept) or
    a folder (scored one image at a time)."""

    id: int
    paths: tuple[str, ...]
    method: str
    steps: int
    sources: tuple[QualityModel, ...]
    root: str | None       # the folder, for masks mirrored under `masks`
    masks: str | None
