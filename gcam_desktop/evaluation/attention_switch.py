"""Attention on vs switched off (or held at its mean), the same model on the same images:
does the SE / s_se attention make the maps point at the object more often? (`--attention off`)

A leaf for evaluation.statistics, which calls it: both comparisons share evaluation.paired."""

from __future__ import annotations

from typing import Mapping, Sequence

from gcam_desktop.evaluation.formatting import difference, number
from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.paired import holm, method_pairs, p_text, paired_metric, proportion_ci, verdict
from gcam_desktop.evaluation.scoring import ImageScore

# The metrics compared, and which way is better (the difference is always with minus without).
SWITCH_METRICS = {"pointing_game": "higher", "energy_in_mask": "higher", "deletion_auc": "lower",
                  "insertion_auc": "higher"}


def compare_switch(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str], *,
                   resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Each entry scored with its attention switched (`base` set) against its own model with
    attention on, paired over the images both scored: per method, each metric's mean with and
    without and the paired difference (with - without) with its interval and test (evaluation.paired),
    Holm over the family (models x methods x metrics); how often the top-1 prediction changes
    (Wilson); a verdict on the pointing game."""
    by_name = {e.name: e for e in entries}
    out = []
    for variant in (e for e in entries if e.base is not None and e.base in by_name):
        on, off = variant.base, variant.name
        both = [s for s in scores if on in s.models and off in s.models]
        changed = [float(s.models[on].pred != s.models[off].pred) for s in both
                   if s.models[on].output_finite and s.models[off].output_finite]
        for method in methods:
            rows = method_pairs(both, on, off, method)
            paired = {key: paired_metric(rows, key, resamples, seed) for key in SWITCH_METRICS}
            pointing = paired["pointing_game"]
            out.append({
                "method": method, "model": on, "switched": off, "attention": variant.attention,
                "images": len(rows), "prediction_changed": proportion_ci(changed),
                "metrics": {key: {"with": p["first"], "without": p["second"]}
                            | {k: p[k] for k in ("images", "difference", "test", "p", "p_holm", "discordant",
                                                 "direction")} for key, p in paired.items()},
                "only_with_hits": pointing["first_higher"], "only_without_hits": pointing["second_higher"]})
    holm([m for c in out for m in c["metrics"].values()])
    for c in out:
        c["verdict"] = verdict(c["metrics"]["pointing_game"], fewer="no (it points at the object less often)")
    return out


def switch_answer(comparison: Sequence[Mapping]) -> str:
    """Plain language: with the attention, do the maps point at the object more often?"""
    if not comparison:
        return ("Not asked: no SE-ResNet50 or s_se-ResNet50 was scored with its attention switched "
                "(run with --attention off).")
    lines = []
    for c in comparison:
        m = c["metrics"]
        p = m["pointing_game"]
        head = f"- {c['model']}, attention on vs {c['attention']} ({c['method']}, {c['images']} images"
        if not p["images"]:
            lines.append(f"{head}): {c['verdict']}.")
            continue
        lines.append(
            f"{head}, {p['images']} with masks): **{c['verdict']}**. Pointing game {number(p['with'], '.1%')} "
            f"with vs {number(p['without'], '.1%')} without, difference "
            f"{difference(p['difference'], 100, '+.1f', ' points')}; {c['only_with_hits']} images hit only "
            f"with the attention, {c['only_without_hits']} only without ({p_text(p)}). Energy in mask "
            f"{difference(m['energy_in_mask']['difference'])}; deletion AUC "
            f"{difference(m['deletion_auc']['difference'])} (lower is better); insertion AUC "
            f"{difference(m['insertion_auc']['difference'])}. The top-1 prediction changes on "
            f"{number(c['prediction_changed']['mean'], '.0%', why='no finite output')} of the images.")
    return "\n".join(lines)
