"""How much two maps of the same image agree: the IoU of their top-20 % regions (the Compare
tab's agreement, explain.metrics.top_region_iou) and Spearman's rank correlation over every
pixel (scipy.stats.spearmanr). Plain numbers, no Qt."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairAgreement:
    iou: float          # top-region IoU, 0..1
    spearman: float     # -1..1; nan when a map is constant (no ranking)


def pair_agreement(map_a: np.ndarray, map_b: np.ndarray) -> PairAgreement:
    """Two maps of one image at one resolution (the engine's maps at the model's input size)."""
    from scipy.stats import spearmanr

    from gcam_desktop.app.compare.explanation_controller import agreement

    if map_a.shape != map_b.shape:
        raise ValueError(f"maps of different sizes {map_a.shape} and {map_b.shape} do not compare")
    a, b = np.asarray(map_a, dtype=np.float64).ravel(), np.asarray(map_b, dtype=np.float64).ravel()
    rho = math.nan if a.min() == a.max() or b.min() == b.max() else float(spearmanr(a, b).statistic)
    return PairAgreement(iou=agreement(np.ascontiguousarray(map_a), np.ascontiguousarray(map_b)), spearman=rho)
