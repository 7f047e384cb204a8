"""Bootstrap intervals and the paired comparison both of the report's questions use: SE / s_se
against the plain ResNet50 (statistics.compare_attention) and one model with its attention on
against switched (attention_switch.compare_switch). Each pairs two models' scores of one method
over the same images. A leaf of the evaluation package: numpy only."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np


def bootstrap_ci(values: Iterable[float], resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """Mean and percentile-bootstrap interval of the finite values: {mean, lo, hi, n}."""
    v = np.asarray([x for x in values if finite(x)], dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = float(v.mean())
    if n == 1 or np.all(v == v[0]):
        return {"mean": mean, "lo": mean, "hi": mean, "n": n}
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, 4_000_000 // n)  # bounded memory for big sets
    for lo in range(0, resamples, step):
        k = min(step, resamples - lo)
        means[lo:lo + k] = v[rng.integers(0, n, size=(k, n))].mean(axis=1)
    a = (1 - level) / 2
    return {"mean": mean, "lo": float(np.quantile(means, a)), "hi": float(np.quantile(means, 1 - a)), "n": n}


def finite(x) -> bool:
    return x is not None and math.isfinite(x)


def method_pairs(scores: Sequence, first: str, second: str, method: str) -> list[tuple]:
    """(first's MethodScore, second's) of `method` on every image both models scored it on."""
    return [(s.models[first].methods[method], s.models[second].methods[method]) for s in scores
            if first in s.models and second in s.models
            and method in s.models[first].methods and method in s.models[second].methods]


def paired_metric(pairs: Sequence[tuple], key: str, resamples: int = 2000, seed: int = 0) -> dict:
    """One metric compared over the pairs where both values are finite (an image without a mask
    has no pointing game): {images, first, second (the two means, None without images),
    first_higher, second_higher (on how many images each is the higher), difference (the
    bootstrap_ci of first - second, paired by image)}."""
    values = [(a.value(key), b.value(key)) for a, b in pairs]
    values = [(a, b) for a, b in values if finite(a) and finite(b)]
    return {"images": len(values),
            "first": float(np.mean([a for a, _ in values])) if values else None,
            "second": float(np.mean([b for _, b in values])) if values else None,
            "first_higher": sum(a > b for a, b in values),
            "second_higher": sum(b > a for a, b in values),
            "difference": bootstrap_ci([a - b for a, b in values], resamples, seed)}


def verdict(images: int, difference: Mapping, fewer: str = "no (less often)") -> str:
    """Does the paired pointing difference (a bootstrap_ci) say "more often"? Its interval above 0:
    "yes"; below 0: `fewer`; across 0: no clear difference."""
    if not images:
        return "no images with masks to compare on"
    if difference["lo"] > 0:
        return "yes"
    if difference["hi"] < 0:
        return fewer
    return "no clear difference"
