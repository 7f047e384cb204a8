"""Intervals, paired tests and the family correction every comparison of the report uses: SE /
s_se against the plain ResNet50 (statistics.compare_attention), a model with its attention on
against switched (attention_switch.compare_switch), and each method against the baseline maps
(evaluation.baselines). Each pairs two sets of scores over the same images. A leaf of the
evaluation package. The choices and their reasons are docs/adr/0026.

- a mean: BCa bootstrap interval (scipy.stats.bootstrap);
- a proportion (hit or not per image): Wilson interval (statsmodels proportion_confint);
- a paired yes/no difference (pointing game): exact McNemar test on the discordant images
  (statsmodels) and Newcombe's square-and-add interval for the difference (his method 10,
  built from the two Wilson intervals: statsmodels has no paired one);
- a paired continuous difference (energy in mask, AUCs): Wilcoxon signed-rank test (SciPy)
  and the BCa interval of the mean difference;
- a report's family of tests: Holm (statsmodels multipletests), raw and adjusted p kept.

statsmodels takes a second or more to import: here at the top, so the app's worker thread, which
loads this package first, pays it, not the GUI thread that summarises.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import bootstrap, wilcoxon
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

ALPHA = 0.05
LEVEL = 0.95
# Metrics that are a yes / no per image, and the value a "yes" has (a percentage's is 100).
BINARY = {"pointing_game": 1.0, "increase_in_confidence": 100.0}
MCNEMAR = "exact McNemar"
WILCOXON = "Wilcoxon signed-rank"
NEWCOMBE = "Newcombe square-and-add interval (method 10, from Wilson intervals)"


def finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _finite_array(values: Iterable[float]) -> np.ndarray:
    return np.asarray([x for x in values if finite(x)], dtype=np.float64)


def bootstrap_ci(values: Iterable[float], resamples: int = 2000, seed: int = 0,
                 level: float = LEVEL) -> dict:
    """Mean and BCa bootstrap interval of the finite values: {mean, lo, hi, n, method}. Where BCa
    is undefined (its jackknife has no spread) the percentile interval stands in, and says so."""
    v = _finite_array(values)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0, "method": None}
    mean = float(v.mean())
    if n == 1 or np.ptp(v) == 0:  # nothing to resample: every resample has this mean
        return {"mean": mean, "lo": mean, "hi": mean, "n": n, "method": "no spread"}
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a degenerate BCa warns, and gives NaN: handled below
            ci = bootstrap((v,), np.mean, n_resamples=resamples, method=method, confidence_level=level,
                           batch=max(1, 4_000_000 // n), rng=np.random.default_rng(seed)).confidence_interval
        if finite(ci.low) and finite(ci.high):
            break
    return {"mean": mean, "lo": float(ci.low), "hi": float(ci.high), "n": n, "method": method}


def proportion_ci(values: Iterable[float], scale: float = 1.0, level: float = LEVEL) -> dict:
    """The share of the finite values above 0 (hits), times `scale`, with its Wilson interval."""
    v = _finite_array(values)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0, "method": None}
    hits = int((v > 0).sum())
    lo, hi = proportion_confint(hits, n, alpha=1 - level, method="wilson")
    return {"mean": hits / n * scale, "lo": float(lo) * scale, "hi": float(hi) * scale, "n": n,
            "method": "Wilson"}


def newcombe_paired(table: Sequence[Sequence[int]], level: float = LEVEL) -> tuple[float, float]:
    """Newcombe's (1998) square-and-add interval for p1 - p2 of a paired 2 x 2 table
    [[both, first only], [second only, neither]], with his continuity-corrected correlation
    (as in Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8)."""
    (a, b), (c, d) = table
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, alpha=1 - level, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=1 - level, method="wilson")
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    phi = 0.0
    if margins:
        phi = (cross - n / 2) / math.sqrt(margins) if cross > n / 2 else min(cross, 0) / math.sqrt(margins)
    lower = (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)
    upper = (p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)
    return p1 - p2 - math.sqrt(max(lower, 0.0)), p1 - p2 + math.sqrt(max(upper, 0.0))


def _mcnemar_p(first_only: int, second_only: int) -> float:
    return float(mcnemar([[0, first_only], [second_only, 0]], exact=True).pvalue)


def _wilcoxon(differences: np.ndarray) -> tuple[float, int]:
    """Two-sided p and the direction (+1, -1, 0) of the signed-rank test on the differences."""
    differences = differences[differences != 0]  # Wilcoxon's own rule; dropped first so that SciPy
    if not differences.size:                      # counts only these: up to 13 it permutes them all,
        return 1.0, 0                             # exact with ties too, not the normal approximation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny n warns that the normal approximation is rough
        p = float(wilcoxon(differences).pvalue)
        greater = float(wilcoxon(differences, alternative="greater").pvalue)
    return p, 1 if greater < 0.5 else -1 if greater > 0.5 else 0


@functools.cache
def fewest_decisive(test: str, alpha: float = ALPHA) -> int:
    """The fewest images that must disagree before `test` can reach p < alpha at all (all of them
    on one side, the most extreme case): 6 for both tests at 0.05 (two-sided: 2 / 2**6)."""
    for k in range(1, 200):
        p = _mcnemar_p(k, 0) if test == MCNEMAR else _wilcoxon(np.arange(1.0, k + 1))[0]
        if p < alpha:
            return k
    raise ValueError(f"{test} never reaches p < {alpha}")


def method_pairs(scores: Sequence, first: str, second: str, method: str, second_method: str | None = None
                 ) -> list[tuple]:
    """(first's MethodScore, second's) of `method` on every image both models scored it on.
    `second_method`: compare with that method of the second model instead (a baseline map)."""
    other = second_method or method
    return [(s.models[first].methods[method], s.models[second].methods[other]) for s in scores
            if first in s.models and second in s.models
            and method in s.models[first].methods and other in s.models[second].methods]


def paired_metric(pairs: Sequence[tuple], key: str, resamples: int = 2000, seed: int = 0) -> dict:
    """One metric compared over the pairs where both values are finite (an image without a mask
    has no pointing game): {images, first, second (the two means, None without images),
    first_higher, second_higher (on how many images each is the higher), difference (first -
    second, paired by image: mean and interval), test, p, p_holm (None until holm() runs),
    discordant (the images that differ), direction (+1 first higher, -1 lower, 0 even)}."""
    values = [(a.value(key), b.value(key)) for a, b in pairs]
    values = [(a, b) for a, b in values if finite(a) and finite(b)]
    first_higher, second_higher = sum(a > b for a, b in values), sum(b > a for a, b in values)
    out = {"images": len(values),
           "first": float(np.mean([a for a, _ in values])) if values else None,
           "second": float(np.mean([b for _, b in values])) if values else None,
           "first_higher": first_higher, "second_higher": second_higher, "p_holm": None}
    diffs = np.asarray([a - b for a, b in values])
    if key in BINARY:
        out.update(_paired_binary(values, BINARY[key]))
    else:
        p, direction = _wilcoxon(diffs) if values else (None, 0)
        out.update(test=WILCOXON, p=p, discordant=int(np.count_nonzero(diffs)), direction=direction,
                   difference=bootstrap_ci(diffs.tolist(), resamples, seed))
    return out


def _paired_binary(values: Sequence[tuple[float, float]], top: float) -> dict:
    """Exact McNemar and Newcombe's interval of a yes / no metric (a "yes" worth `top`)."""
    hits = [(a > 0, b > 0) for a, b in values]
    both, neither = sum(a and b for a, b in hits), sum(not a and not b for a, b in hits)
    only_first, only_second = sum(a and not b for a, b in hits), sum(b and not a for a, b in hits)
    n = len(hits)
    out = {"test": MCNEMAR, "discordant": only_first + only_second,
           "direction": int(np.sign(only_first - only_second)),
           "p": _mcnemar_p(only_first, only_second) if n else None}
    if not n:
        out["difference"] = {"mean": None, "lo": None, "hi": None, "n": 0, "method": None}
        return out
    lo, hi = newcombe_paired([[both, only_first], [only_second, neither]])
    out["difference"] = {"mean": (only_first - only_second) / n * top, "lo": lo * top, "hi": hi * top, "n": n,
                         "method": NEWCOMBE}
    return out


def holm(tests: Iterable[dict], alpha: float = ALPHA) -> None:
    """Holm's correction over one family of tests (dicts with "p"), in place: sets "p_holm".
    Tests without a p (no images) are not part of the family."""
    family = [t for t in tests if t.get("p") is not None]
    if family:
        adjusted = multipletests([t["p"] for t in family], alpha=alpha, method="holm")[1]
        for t, p in zip(family, adjusted):
            t["p_holm"] = float(p)


def verdict(test: Mapping, fewer: str = "no (less often)", more: str = "yes",
            none: str = "no images with masks to compare on", alpha: float = ALPHA) -> str:
    """The answer a paired test (paired_metric, after holm) allows: `more` only where the
    Holm-adjusted p is below alpha and the first is ahead; `fewer` where it is behind; "not
    enough evidence" where too few images differ for the test to decide at all."""
    if not test["images"]:
        return none
    need = fewest_decisive(test["test"], alpha)
    if test["discordant"] < need:
        n = test["discordant"]
        return ("not enough evidence (no image disagrees)" if n == 0 else
                f"not enough evidence (only {n} image{'s' if n != 1 else ''} disagree{'s' if n == 1 else ''})")
    p = test["p_holm"] if test["p_holm"] is not None else test["p"]
    if p >= alpha or not test["direction"]:
        return "no clear difference"
    return more if test["direction"] > 0 else fewer


def p_text(test: Mapping) -> str:
    """"exact McNemar p = 0.125, Holm 0.250" (or a dash where there was nothing to test)."""
    if test.get("p") is None:
        return f"{test.get('test', 'test')}: \u2013"
    holm_part = f", Holm-adjusted {_p(test['p_holm'])}" if test.get("p_holm") is not None else ""
    return f"{test['test']} p = {_p(test['p'])}{holm_part}"


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 0.001 else f"{p:.1e}"
