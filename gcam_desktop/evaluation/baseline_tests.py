"""Does each method beat the maps that know nothing of the model (explain/baselines.py: a seeded
random map, a centred Gaussian, the Sobel edges)? Paired over the same model and images, with
the tests of evaluation.paired and Holm over the whole family (models x methods x baselines x
metrics). A method that does not beat the edge detector on the pointing game or deletion is
said so in words (Adebayo et al. 2018: some saliency methods are edge detectors)."""

from __future__ import annotations

from typing import Mapping, Sequence

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.paired import holm, method_pairs, p_text, paired_metric, verdict
from gcam_desktop.evaluation.scoring import ImageScore, baseline_key

# The metrics a method has to beat a baseline on, and which way is better.
BEAT_METRICS = {"pointing_game": "higher", "energy_in_mask": "higher", "deletion_auc": "lower",
                "insertion_auc": "higher", "road_morf": "lower", "road_lerf": "higher"}
# The ones a method that cannot beat the edge detector is named for in the report's words.
EDGE_METRICS = ("pointing_game", "deletion_auc")
BEATS, WORSE = "beats it", "worse than it"


def compare_baselines(scores: Sequence[ImageScore], entries: Sequence[ModelEntry], methods: Sequence[str],
                      baselines: Sequence[str], *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """One row per model, method and baseline: per metric the paired test of the method's value
    against the baseline's (same model, same images) and its verdict ("beats it", "worse than
    it", "no clear difference", or "not enough evidence (only N images disagree)")."""
    rows = []
    for e in entries:
        for method in methods:
            for b in baselines:
                pairs = method_pairs(scores, e.name, e.name, method, baseline_key(b))
                metrics = {k: _metric(paired_metric(pairs, k, resamples, seed), better)
                           for k, better in BEAT_METRICS.items()}
                rows.append({"model": e.name, "method": method, "baseline": b,
                             "metrics": {k: m for k, m in metrics.items() if m["images"]}})
    holm([m for r in rows for m in r["metrics"].values()])
    for r in rows:
        for m in r["metrics"].values():
            m["verdict"] = _beats(m)
    return rows


def _metric(p: Mapping, better: str) -> dict:
    keep = ("images", "first", "second", "difference", "test", "p", "p_holm", "discordant", "direction")
    return {"better": better, **{k: p[k] for k in keep}}


def _beats(m: Mapping) -> str:
    # "beats" is the better direction: a lower deletion AUC beats a higher one.
    toward = m["direction"] if m["better"] == "higher" else -m["direction"]
    return verdict({**m, "direction": toward}, fewer=WORSE, more=BEATS, none="no images")


def edge_statements(rows: Sequence[Mapping], labels: Mapping[str, str]) -> list[str]:
    """Plain sentences for each model and method that does not beat the Sobel edge map on the
    pointing game or deletion; `labels` names the metrics."""
    out = []
    for r in rows:
        if r["baseline"] != "edges":
            continue
        missed = [(k, r["metrics"][k]) for k in EDGE_METRICS if k in r["metrics"]
                  and r["metrics"][k]["verdict"] != BEATS]
        if missed:
            why = "; ".join(f"{labels.get(k, k)}: {m['verdict']}, {p_text(m)}" for k, m in missed)
            out.append(f"{r['method']} on {r['model']} does not beat the Sobel edge map on "
                       f"{' or '.join(labels.get(k, k) for k, _ in missed)} ({why}): it has not been shown to "
                       f"explain more than the image's edges.")
    return out
