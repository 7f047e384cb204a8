"""Statistics over scored images: bootstrap intervals, per-model summaries, agreement, and the
paired answer to "does SE / s_se attention point at the object more often than ResNet50?"."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.scoring import METRIC_KEYS, TOP_FRACTION, ImageScore, MethodScore, model_pairs

BASELINE_ARCH = "resnet50"
ATTENTION_ARCHS = ("se_resnet50", "s_se_resnet50")


def bootstrap_ci(values: Iterable[float], resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """Mean and percentile-bootstrap interval of the finite values: {mean, lo, hi, n}."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
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


def format_interval(c: Mapping | None, scale: float = 1.0, digits: int = 3) -> str:
    """A bootstrap_ci result as "mean [lo, hi]" (values times `scale`), or an en dash when empty."""
    if not c or c.get("mean") is None:
        return "\u2013"
    return f"{c['mean'] * scale:.{digits}f} [{c['lo'] * scale:.{digits}f}, {c['hi'] * scale:.{digits}f}]"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def summarize(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str], *,
              resamples: int = 2000, seed: int = 0) -> dict:
    """Per model and method: mean and 95 % interval of each metric, accuracy, mean curves;
    agreement between models; the attention-vs-baseline comparison and its answer."""
    ci = lambda vals: bootstrap_ci(vals, resamples, seed)  # noqa: E731
    models = []
    for e in entries:
        mine = [s.models[e.name] for s in scores if e.name in s.models]
        known = [m for m in mine if m.correct is not None]
        entry = {"name": e.name, "arch": e.arch, "checkpoint": e.path, "attention": e.attention,
                 "input_size": e.meta.get("input_size"), "class_names": list(e.meta.get("class_names") or []),
                 "epoch": e.meta.get("epoch"),
                 "accuracy": ci([float(m.correct) for m in known]), "methods": {}}
        for method in methods:
            ms = [m.methods[method] for m in mine if method in m.methods]
            block = {k: ci([x.value(k) for x in ms]) for k in METRIC_KEYS}
            block["curves"] = _mean_curves(ms)
            entry["methods"][method] = block
        models.append(entry)

    agreement = []
    for a, b in model_pairs([e.name for e in entries]):
        both = [s for s in scores if a in s.models and b in s.models]
        agreement.append({
            "models": [a, b],
            "prediction_agreement": ci([float(s.models[a].label == s.models[b].label) for s in both]),
            f"top{int(TOP_FRACTION * 100)}_iou": {m: ci([s.top_iou.get(f"{a}|{b}", {}).get(m, math.nan)
                                                        for s in both]) for m in methods},
        })
    comparison = compare_attention(scores, entries, methods, resamples=resamples, seed=seed)
    from gcam_desktop.evaluation.attention_switch import compare_switch, switch_answer

    switch = compare_switch(scores, entries, methods, resamples=resamples, seed=seed)
    return {"models": models, "agreement": agreement, "comparison": comparison,
            "answer": answer_text(comparison, entries, scores),
            "attention_switch": switch, "attention_answer": switch_answer(switch)}


def _mean_curves(ms: Sequence[MethodScore]) -> dict:
    dels = [m.deletion_curve for m in ms if m.deletion_curve]
    ins = [m.insertion_curve for m in ms if m.insertion_curve]
    if not dels:
        return {}
    s = len(dels[0]) - 1
    return {"fractions": [k / s for k in range(s + 1)],  # nominal; exact ones differ by rounding only
            "deletion": np.mean(np.asarray(dels), axis=0).tolist(),
            "insertion": np.mean(np.asarray(ins), axis=0).tolist()}


def compare_attention(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str],
                      *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Each SE / s_se model against each plain ResNet50, paired over the images both scored
    with a mask: difference of pointing-game hit rate and of energy in mask, with intervals."""
    out = []
    # Models as trained only: an attention-off copy is compared with its own model instead
    # (evaluation.attention_switch).
    bases = [e for e in entries if e.arch == BASELINE_ARCH and e.base is None]
    others = [e for e in entries if e.arch in ATTENTION_ARCHS and e.base is None]
    for base in bases:
        for att in others:
            for method in methods:
                rows = [(s.models[att.name].methods[method], s.models[base.name].methods[method])
                        for s in scores if att.name in s.models and base.name in s.models
                        and method in s.models[att.name].methods and method in s.models[base.name].methods]
                rows = [(x, y) for x, y in rows if _finite(x.pointing_game) and _finite(y.pointing_game)]
                hits_att = [x.pointing_game for x, _ in rows]
                hits_base = [y.pointing_game for _, y in rows]
                out.append({
                    "method": method, "model": att.name, "baseline": base.name, "images": len(rows),
                    "pointing_model": float(np.mean(hits_att)) if rows else None,
                    "pointing_baseline": float(np.mean(hits_base)) if rows else None,
                    "only_model_hits": int(sum(x > y for x, y in zip(hits_att, hits_base))),
                    "only_baseline_hits": int(sum(y > x for x, y in zip(hits_att, hits_base))),
                    "pointing_difference": bootstrap_ci([x - y for x, y in zip(hits_att, hits_base)], resamples, seed),
                    "energy_difference": bootstrap_ci([x.energy_in_mask - y.energy_in_mask for x, y in rows],
                                                      resamples, seed),
                })
    for c in out:
        c["verdict"] = verdict(c["images"], c["pointing_difference"])
    return out


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


def answer_text(comparison: Sequence[Mapping], entries: Sequence[ModelEntry],
                scores: Sequence[ImageScore]) -> str:
    """Plain-language answer: does SE or s_se attention point at the object more often?"""
    archs = {e.arch for e in entries}
    if BASELINE_ARCH not in archs or not archs & set(ATTENTION_ARCHS):
        return ("Cannot answer: it needs a resnet50 checkpoint and an se_resnet50 or s_se_resnet50 "
                f"checkpoint (given: {', '.join(sorted(archs)) or 'none'}).")
    if not any(s.mask for s in scores):
        # No command-line flags here: the Quality tab shows this text too.
        return ("Cannot answer: no image has an object mask. Masks are found in a masks folder "
                "that mirrors the images folder (masks/<class>/<name>.png beside images/<class>/<name>), "
                "as in the synthetic sets.")
    lines = []
    for c in comparison:
        d, e = c["pointing_difference"], c["energy_difference"]
        if not c["images"]:
            lines.append(f"- {c['model']} vs {c['baseline']} ({c['method']}): {c['verdict']}.")
            continue
        lines.append(
            f"- {c['model']} vs {c['baseline']} ({c['method']}, {c['images']} images with masks): "
            f"**{c['verdict']}**. Pointing game {c['pointing_model']:.1%} vs {c['pointing_baseline']:.1%}, "
            f"difference {d['mean'] * 100:+.1f} points (95 % CI {d['lo'] * 100:+.1f} to {d['hi'] * 100:+.1f}); "
            f"{c['only_model_hits']} images hit only by {c['model']}, {c['only_baseline_hits']} only by "
            f"{c['baseline']}. Energy in mask difference {e['mean']:+.3f} "
            f"(95 % CI {e['lo']:+.3f} to {e['hi']:+.3f}).")
    return "\n".join(lines)

