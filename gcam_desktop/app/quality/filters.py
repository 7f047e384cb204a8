"""The Quality tab's folder filters: which images to list, in which order. Pure functions."""

from __future__ import annotations

import math
from typing import Sequence

FILTERS = ("all", "correct", "wrong", "models disagree", "lowest quality first")


def quality_of(score, method: str) -> float:
    """One number per image, lower = worse: mean over models of insertion minus deletion AUC."""
    vals = [m.methods[method].insertion_auc - m.methods[method].deletion_auc
            for m in score.models.values() if method in m.methods]
    return sum(vals) / len(vals) if vals else math.nan


def filter_scores(scores: Sequence, kind: str, method: str) -> list:
    """The images matching a folder filter (FILTERS), in the order to list them."""
    if kind == "all":
        return list(scores)
    if kind == "correct":
        return [s for s in scores if s.models and all(m.correct for m in s.models.values())]
    if kind == "wrong":
        return [s for s in scores if any(m.correct is False for m in s.models.values())]
    if kind == "models disagree":
        return [s for s in scores if not s.models_agree]
    if kind == "lowest quality first":
        rated = [s for s in scores if math.isfinite(quality_of(s, method))]
        return sorted(rated, key=lambda s: quality_of(s, method))
    raise ValueError(f"unknown filter {kind!r}; choose from {', '.join(FILTERS)}")
