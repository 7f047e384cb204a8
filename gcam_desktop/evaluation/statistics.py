"""Statistics over scored images: per-model summaries, agreement, and the paired answer to
"does SE / s_se attention point at the object more often than ResNet50?" (the intervals and the
pairing are evaluation.paired's)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from gcam_desktop.evaluation.attention_switch import compare_switch, switch_answer
from gcam_desktop.evaluation.formatting import difference, number
from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.paired import (BINARY, MCNEMAR, bootstrap_ci, fewest_decisive, holm, method_pairs,
                                            p_text, paired_metric, proportion_ci, verdict)
from gcam_desktop.evaluation.baseline_tests import compare_baselines
from gcam_desktop.evaluation.scoring import (METRIC_KEYS, TOP_FRACTION, ImageScore, MethodScore, baseline_key,
                                             model_pairs)
from gcam_desktop.models.names import ATTENTION_ARCHS

BASELINE_ARCH = "resnet50"


def summarize(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str], *,
              resamples: int = 2000, seed: int = 0, baselines: Sequence[str] = ()) -> dict:
    """Per model and method: mean and 95 % interval of each metric (Wilson for the yes / no ones,
    BCa bootstrap for the rest), accuracy, mean curves; agreement between models; the
    attention-vs-baseline comparison and its answer."""
    ci = lambda vals: bootstrap_ci(vals, resamples, seed)  # noqa: E731
    models = []
    for e in entries:
        mine = [s.models[e.name] for s in scores if e.name in s.models]
        known = [m for m in mine if m.correct is not None]
        entry = {"name": e.name, "arch": e.arch, "checkpoint": e.path, "attention": e.attention,
                 "input_size": e.meta.get("input_size"), "class_names": list(e.meta.get("class_names") or []),
                 "epoch": e.meta.get("epoch"),
                 # Images where the model's output was NaN / infinite: they give it no values at all.
                 "outputs_not_finite": sum(not m.output_finite for m in mine),
                 "accuracy": proportion_ci([float(m.correct) for m in known]), "methods": {}}
        for method in methods:
            ms = [m.methods[method] for m in mine if method in m.methods]
            entry["methods"][method] = _metric_block(ms, ci) | {"curves": _mean_curves(ms)}
        if baselines:  # the baseline maps' own scores with this model
            entry["baselines"] = {b: _metric_block([m.methods[baseline_key(b)] for m in mine
                                                    if baseline_key(b) in m.methods], ci) for b in baselines}
        models.append(entry)

    agreement = []
    for a, b in model_pairs([e.name for e in entries]):
        both = [s for s in scores if a in s.models and b in s.models
                and s.models[a].output_finite and s.models[b].output_finite]
        agreement.append({
            "models": [a, b],
            "prediction_agreement": proportion_ci([float(s.models[a].label == s.models[b].label) for s in both]),
            f"top{int(TOP_FRACTION * 100)}_iou": {m: ci([s.top_iou.get(f"{a}|{b}", {}).get(m, math.nan)
                                                        for s in both]) for m in methods},
        })
    comparison = compare_attention(scores, entries, methods, resamples=resamples, seed=seed)
    switch = compare_switch(scores, entries, methods, resamples=resamples, seed=seed)
    return {"models": models, "agreement": agreement, "comparison": comparison,
            "answer": answer_text(comparison, entries, scores),
            "attention_switch": switch, "attention_answer": switch_answer(switch),
            "baseline_tests": compare_baselines(scores, entries, methods, baselines, resamples=resamples,
                                                seed=seed)}


def _metric_block(ms: Sequence[MethodScore], ci) -> dict:
    """Each metric's mean and interval over one method's scores: Wilson for the yes / no ones."""
    return {k: proportion_ci([x.value(k) for x in ms], BINARY[k]) if k in BINARY else ci([x.value(k) for x in ms])
            for k in METRIC_KEYS}


def _mean_curves(ms: Sequence[MethodScore]) -> dict:
    # Only whole, finite curve pairs: one NaN would make the mean curve NaN.
    ok = [m for m in ms if m.deletion_curve and m.insertion_curve
          and np.isfinite(m.deletion_curve).all() and np.isfinite(m.insertion_curve).all()]
    dels, ins = [m.deletion_curve for m in ok], [m.insertion_curve for m in ok]
    if not dels:
        return {}
    s = len(dels[0]) - 1
    return {"fractions": [k / s for k in range(s + 1)],  # nominal; exact ones differ by rounding only
            "deletion": np.mean(np.asarray(dels), axis=0).tolist(),
            "insertion": np.mean(np.asarray(ins), axis=0).tolist()}


def compare_attention(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str],
                      *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Each SE / s_se model against each plain ResNet50, paired over the images both scored
    with a mask: difference of pointing-game hit rate (exact McNemar, Newcombe interval) and of
    energy in mask (Wilcoxon signed-rank, BCa interval); Holm over the whole family (every
    model pair, method and both metrics), then the verdict from the pointing game's adjusted p."""
    out = []
    # Models as trained only: an attention-off copy is compared with its own model instead
    # (evaluation.attention_switch).
    bases = [e for e in entries if e.arch == BASELINE_ARCH and e.base is None]
    others = [e for e in entries if e.arch in ATTENTION_ARCHS and e.base is None]
    for base in bases:
        for att in others:
            for method in methods:
                rows = method_pairs(scores, att.name, base.name, method)
                p = paired_metric(rows, "pointing_game", resamples, seed)
                e = paired_metric(rows, "energy_in_mask", resamples, seed)
                out.append({
                    "method": method, "model": att.name, "baseline": base.name, "images": p["images"],
                    "pointing_model": p["first"], "pointing_baseline": p["second"],
                    "only_model_hits": p["first_higher"], "only_baseline_hits": p["second_higher"],
                    "pointing_difference": p["difference"], "energy_difference": e["difference"],
                    "pointing_test": _test_part(p), "energy_test": _test_part(e)})
    holm([t for c in out for t in (c["pointing_test"], c["energy_test"])])
    for c in out:
        c["verdict"] = verdict(c["pointing_test"])
    return out


def _test_part(p: Mapping) -> dict:
    """The test of a paired_metric result, the part holm() and verdict() work on."""
    return {k: p[k] for k in ("test", "p", "p_holm", "images", "discordant", "direction")}


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
            f"**{c['verdict']}**. Pointing game {number(c['pointing_model'], '.1%')} vs "
            f"{number(c['pointing_baseline'], '.1%')}, difference {difference(d, 100, '+.1f', ' points')}; "
            f"{c['only_model_hits']} images hit only by {c['model']}, {c['only_baseline_hits']} only by "
            f"{c['baseline']} ({p_text(c['pointing_test'])}). Energy in mask difference {difference(e)} "
            f"({p_text(c['energy_test'])}).")
    need = fewest_decisive(MCNEMAR)
    if any(c["verdict"].startswith("not enough evidence") for c in comparison):
        lines.append(f"- Not enough evidence: the exact McNemar test looks only at the images hit by one model "
                     f"and not the other; with fewer than {need} such images no difference can reach p < 0.05.")
    return "\n".join(lines)

