"""Attention on vs switched off (or held at its mean), the same model on the same images:
does the SE / s_se attention make the maps point at the object more often? (`--attention off`)"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.scoring import ImageScore
from gcam_desktop.evaluation.statistics import bootstrap_ci, verdict

# The metrics compared, and which way is better (the difference is always with minus without).
SWITCH_METRICS = {"pointing_game": "higher", "energy_in_mask": "higher", "deletion_auc": "lower",
                  "insertion_auc": "higher"}


def compare_switch(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str], *,
                   resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Each entry scored with its attention switched (`base` set) against its own model with
    attention on, paired over the images both scored: per method, each metric's mean with and
    without and the paired difference (with - without) with a bootstrap interval; how often the
    top-1 prediction changes; a verdict on the pointing game."""
    by_name = {e.name: e for e in entries}
    out = []
    for variant in (e for e in entries if e.base is not None and e.base in by_name):
        on, off = variant.base, variant.name
        both = [s for s in scores if on in s.models and off in s.models]
        changed = [float(s.models[on].pred != s.models[off].pred) for s in both]
        for method in methods:
            rows = [(s.models[on].methods[method], s.models[off].methods[method]) for s in both
                    if method in s.models[on].methods and method in s.models[off].methods]
            block = {"method": method, "model": on, "switched": off, "attention": variant.attention,
                     "images": len(rows), "prediction_changed": bootstrap_ci(changed, resamples, seed),
                     "metrics": {}}
            for key in SWITCH_METRICS:
                pairs = [(a.value(key), b.value(key)) for a, b in rows
                         if math.isfinite(a.value(key)) and math.isfinite(b.value(key))]
                block["metrics"][key] = {
                    "images": len(pairs),
                    "with": sum(a for a, _ in pairs) / len(pairs) if pairs else None,
                    "without": sum(b for _, b in pairs) / len(pairs) if pairs else None,
                    "difference": bootstrap_ci([a - b for a, b in pairs], resamples, seed),
                }
            hits = [(a.pointing_game, b.pointing_game) for a, b in rows
                    if math.isfinite(a.pointing_game) and math.isfinite(b.pointing_game)]
            block["only_with_hits"] = sum(a > b for a, b in hits)
            block["only_without_hits"] = sum(b > a for a, b in hits)
            pointing = block["metrics"]["pointing_game"]
            block["verdict"] = verdict(pointing["images"], pointing["difference"],
                                       fewer="no (it points at the object less often)")
            out.append(block)
    return out


def switch_answer(comparison: Sequence[Mapping]) -> str:
    """Plain language: with the attention, do the maps point at the object more often?"""
    if not comparison:
        return ("Not asked: no SE-ResNet50 or s_se-ResNet50 was scored with its attention switched "
                "(run with --attention off).")
    lines = []
    for c in comparison:
        m = c["metrics"]
        p, e = m["pointing_game"], m["energy_in_mask"]
        dl, il = m["deletion_auc"]["difference"], m["insertion_auc"]["difference"]
        head = f"- {c['model']}, attention on vs {c['attention']} ({c['method']}, {c['images']} images"
        if not p["images"]:
            lines.append(f"{head}): {c['verdict']}.")
            continue
        pd, ed = p["difference"], e["difference"]
        lines.append(
            f"{head}, {p['images']} with masks): **{c['verdict']}**. Pointing game {p['with']:.1%} with vs "
            f"{p['without']:.1%} without, difference {pd['mean'] * 100:+.1f} points (95 % CI "
            f"{pd['lo'] * 100:+.1f} to {pd['hi'] * 100:+.1f}); {c['only_with_hits']} images hit only with "
            f"the attention, {c['only_without_hits']} only without. Energy in mask {_diff(ed)}; "
            f"deletion AUC {_diff(dl)} (lower is better); insertion AUC {_diff(il)}. The top-1 "
            f"prediction changes on {c['prediction_changed']['mean']:.0%} of the images.")
    return "\n".join(lines)


def _diff(d: Mapping) -> str:
    if d["mean"] is None:
        return "–"
    return f"{d['mean']:+.3f} (95 % CI {d['lo']:+.3f} to {d['hi']:+.3f})"
