"""The evaluation report: report.json, report.md and the PNG curves, written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

from gcam_desktop.evaluation.baseline_tests import BEAT_METRICS, edge_statements
from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.explain.baselines import BASELINE_LABELS
from gcam_desktop.evaluation.attention_switch import SWITCH_METRICS
from gcam_desktop.evaluation.plots import Panel, line_plot
from gcam_desktop.evaluation.sanity_report import cascade_figure, sanity_markdown
from gcam_desktop.evaluation.scoring import METRIC_KEYS, TOP_FRACTION, ImageScore, SkippedImage
from gcam_desktop.explain.names import TOP_REGION
from gcam_desktop.evaluation.formatting import format_interval, number
from gcam_desktop.evaluation.paired import MCNEMAR, NEWCOMBE, WILCOXON, fewest_decisive, p_text
from gcam_desktop.evaluation.statistics import summarize

FORMAT = "gcam-desktop/evaluation"
VERSION = 1
METRIC_LABELS = {  # (column title, which way is better)
    "pointing_game": ("pointing game", "higher"),
    "energy_in_mask": ("energy in mask", "higher"),
    "deletion_auc": ("deletion AUC", "lower"),
    "insertion_auc": ("insertion AUC", "higher"),
    "road_morf": ("ROAD, most relevant removed first", "lower"),
    "road_lerf": ("ROAD, least relevant removed first", "higher"),
    "average_drop": ("average drop %", "lower"),
    "increase_in_confidence": ("increase in confidence %", "higher"),
}


def _json_safe(obj):
    """NaN and infinities become null (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def per_image_rows(scores: Sequence[ImageScore], methods: Sequence[str]) -> list[dict]:
    rows = []
    for s in scores:
        rows.append({"path": s.path, "mask": s.mask, "models_agree": s.models_agree, "models": {
            name: {"pred": m.pred if m.output_finite else None, "output_finite": m.output_finite,
                   "prob": round(m.prob, 6) if m.output_finite else None, "true": m.true, "correct": m.correct,
                   "methods": {k: {key: round(v.value(key), 6) for key in METRIC_KEYS} | {"target": v.target}
                               for k, v in m.methods.items()}}
            for name, m in s.models.items()}})
    return rows


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    from gcam_desktop.files import atomic_write

    atomic_write(path, lambda tmp: write(Path(tmp)))


def markdown(report: Mapping) -> str:
    s = report["settings"]
    out = [f"# Explanation quality: {Path(report['data']).name}", "",
           f"Data: `{report['data']}` ({report['images']} images scored, {report['images_with_masks']} with "
           f"object masks, {len(report['skipped'])} skipped). Masks: `{report['masks'] or 'none found'}`.",
           f"Methods: {', '.join(s['methods'])}; layer: {s['layer'] or 'each model’s default'}; "
           f"target: {'true class (prediction where unknown)' if s['target'] == 'true' else 'predicted class'}; "
           f"{s['steps']} deletion / insertion steps (deletion to {s['deletion_baseline']}, insertion from "
           f"{s['insertion_baseline']}); pointing tolerance {s['pointing_tolerance']}; ROAD "
           f"{_road_text(s)}; baselines: {', '.join(s.get('baselines') or []) or 'none'}."
           + _options_text(s.get("method_options")),
           f"Intervals: {s['interval']}.", "",
           "## Does SE or s_se attention point at the object more often than the baseline?", "",
           report["answer"], ""]
    if report.get("attention_switch"):
        out += _switch_section(report)
    for method in s["methods"]:
        out += [f"## {method}", "",
                "| model | accuracy % | " + _metric_header(METRIC_KEYS) + " |",
                "|---" * (2 + len(METRIC_KEYS)) + "|"]
        for m in report["models"]:
            cells = [format_interval(m["accuracy"], 100, 1, why=_why_missing(report, m, "accuracy"))]
            cells += _metric_cells(report, m, m["methods"][method])
            out.append(f"| {m['name']} | " + " | ".join(cells) + " |")
        out += [""] + _not_finite_lines(report) + _beats_section(report, method)
        if f"curves_{_slug(method)}.png" in report.get("plots", []):
            out += [f"![mean curves, {method}](curves_{_slug(method)}.png)", ""]
    out += _baselines_table(report)
    if report["agreement"]:
        key = f"top{int(TOP_FRACTION * 100)}_iou"
        out += ["## Agreement between models", "",
                "| models | same prediction % | " + " | ".join(f"{TOP_REGION} IoU, {m}" for m in s["methods"]) + " |",
                "|---" * (2 + len(s["methods"])) + "|"]
        for a in report["agreement"]:
            out.append(f"| {a['models'][0]} / {a['models'][1]} | {format_interval(a['prediction_agreement'], 100, 1)} | "
                       + " | ".join(format_interval(a[key][m]) for m in s["methods"]) + " |")
        out.append("")
    if report.get("sanity"):
        out += sanity_markdown(report["sanity"], [p for p in report.get("plots", []) if p.startswith("sanity_")])
    out += ["## Mean curves per model", ""]
    for m in report["models"]:
        png = f"curves_model_{_slug(m['name'])}.png"
        if png in report.get("plots", []):
            out += [f"### {m['name']}", "", f"![{m['name']} deletion and insertion curves]({png})", ""]
    if report.get("mask_notes"):
        out += ["## Masks rescaled or not used", ""] + [f"- `{x['path']}`: {x['note']}"
                                                        for x in report["mask_notes"]] + [""]
    if report.get("strategies"):
        from gcam_desktop.strategies.files import markdown as strategies_markdown

        out += strategies_markdown(report["strategies"])
    if report.get("near_duplicates"):
        from gcam_desktop.evaluation.leakage import statement

        out += ["## Near-duplicates of training images", ""] + [f"- {statement(r)}" for r in report["near_duplicates"]]
        out += [""]
    if report["skipped"]:
        out += ["## Skipped images", ""] + [f"- `{x['path']}`: {x['reason']}" for x in report["skipped"]] + [""]
    out += ["Per-image values are in `report.json` (`per_image`)."]
    return "\n".join(out) + "\n"


def _switch_section(report: Mapping) -> list[str]:
    out = ["## Does the attention make the maps point at the object more often? (on vs "
           f"{report['settings'].get('attention', 'off')}, the same model and images)", "",
           report["attention_answer"], "",
           "| model | method | images | " + " | ".join(
               f"{METRIC_LABELS[k][0]}: with / without, difference" for k in SWITCH_METRICS)
           + " | top-1 changed % |", "|---" * (4 + len(SWITCH_METRICS)) + "|"]
    for c in report["attention_switch"]:
        cells = []
        for k in SWITCH_METRICS:
            m = c["metrics"][k]
            cells.append(number(None, why="no images to pair") if not m["images"] else
                         f"{number(m['with'])} / {number(m['without'])}, {format_interval(m['difference'])}; "
                         f"{p_text(m)}")
        out.append(f"| {c['model']} | {c['method']} | {c['images']} | " + " | ".join(cells)
                   + f" | {format_interval(c['prediction_changed'], 100, 1)} |")
    return out + [""]


def _metric_header(keys: Sequence[str]) -> str:
    return " | ".join(f"{METRIC_LABELS[k][0]} ({METRIC_LABELS[k][1]} is better)" for k in keys)


def _metric_cells(report: Mapping, model: Mapping, block: Mapping) -> list[str]:
    return [format_interval(block[k], digits=1 if k in ("average_drop", "increase_in_confidence") else 3,
                            why=_why_missing(report, model, k)) for k in METRIC_KEYS]


def _baselines_table(report: Mapping) -> list[str]:
    """The baseline maps' own scores with each model, in the units of the method tables."""
    names = report["settings"].get("baselines") or []
    if not names:
        return []
    out = ["## Baselines: maps that know nothing of the model", "",
           "A seeded random map, a centred Gaussian and the Sobel edges of the image, scored with the same "
           "metrics and models as the methods.", "",
           "| model | baseline | " + _metric_header(METRIC_KEYS) + " |", "|---" * (2 + len(METRIC_KEYS)) + "|"]
    for m in report["models"]:
        for b in names:
            out.append(f"| {m['name']} | {BASELINE_LABELS[b]} | "
                       + " | ".join(_metric_cells(report, m, m["baselines"][b])) + " |")
    return out + [""]


def _beats_section(report: Mapping, method: str) -> list[str]:
    """Does the method beat each baseline, per model and metric (paired, Holm over the family)?"""
    rows = [r for r in report.get("baseline_tests", []) if r["method"] == method]
    if not rows:
        return []
    keys = [k for k in BEAT_METRICS if any(k in r["metrics"] for r in rows)]
    out = [f"### Does {method} beat the baselines?", "",
           "Paired over the same model and images; the verdict uses the Holm-adjusted p over every model, "
           "method, baseline and metric of this report.", "",
           "| model | baseline | " + " | ".join(METRIC_LABELS[k][0] for k in keys) + " |",
           "|---" * (2 + len(keys)) + "|"]
    for r in rows:
        cells = [f"{r['metrics'][k]['verdict']} ({p_text(r['metrics'][k])})" if k in r["metrics"] else
                 number(None, why="no images") for k in keys]
        out.append(f"| {r['model']} | {BASELINE_LABELS[r['baseline']]} | " + " | ".join(cells) + " |")
    words = edge_statements(rows, {k: v[0] for k, v in METRIC_LABELS.items()})
    return out + [""] + [f"- {w}" for w in words] + ([""] if words else [])


def _why_missing(report: Mapping, model: Mapping, key: str) -> str:
    """Why a summary cell has no value (it is only shown where it has none)."""
    if model.get("outputs_not_finite") and model["outputs_not_finite"] >= report["images"]:
        return "output not finite"
    if key.startswith("road_") and not report["settings"].get("road_percentages"):
        return "ROAD not run"
    if key in ("pointing_game", "energy_in_mask") and not report["images_with_masks"]:
        return "no masks"
    if key == "accuracy":
        return "no known classes"
    return "no finite values"


def _not_finite_lines(report: Mapping) -> list[str]:
    lines = [f"- {m['name']}: its output was not finite (NaN or infinite) on {m['outputs_not_finite']} of "
             f"{report['images']} images, which give it no values." for m in report["models"]
             if m.get("outputs_not_finite")]
    return lines + [""] if lines else []


def _slug(name: str) -> str:
    """A file-name-safe form: gradcam++ -> gradcampp."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "p" if ch == "+" else "_" for ch in name)


def build_report(scores: Sequence[ImageScore], skipped: Sequence[SkippedImage], entries: Sequence[ModelEntry],
                 methods: Sequence[str], *, data: str, masks: str | None, layer: str | None, steps: int,
                 target: str, resamples: int = 2000, seed: int = 0, attention: str = "on",
                 reference: str | None = None, baselines: Sequence[str] = (),
                 road_percentages: Sequence[float] = (), options: Mapping[str, Mapping] | None = None) -> dict:
    summary = summarize(scores, entries, methods, resamples=resamples, seed=seed, baselines=baselines)
    return {
        "format": FORMAT, "version": VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data, "masks": masks, "images": len(scores),
        "images_with_masks": sum(1 for s in scores if s.mask),
        "skipped": [{"path": x.path, "reason": x.reason} for x in skipped],
        "mask_notes": [{"path": x.path, "note": x.mask_note} for x in scores if x.mask_note],
        "settings": {"methods": list(methods), "layer": layer, "steps": steps, "target": target,
                     "method_options": {m: dict(o) for m, o in (options or {}).items() if o},
                     "attention": attention, "attention_reference": reference,
                     "deletion_baseline": "zero (the mean colour, in normalised space)",
                     "insertion_baseline": "a Gaussian-blurred copy (sigma 5 px at 224)",
                     "pointing_tolerance": "15 px at 224 x 224, scaled with the mask's size",
                     "baselines": list(baselines), "road_percentages": [float(p) for p in road_percentages],
                     "road": "noisy linear imputation (Rong et al. 2022); the mean class probability over "
                             "the percentages",
                     "confidence_masking": "image * map in pixel space (Chattopadhay et al.)",
                     "interval": _interval_text(resamples, seed)},
        **summary,
        "per_image": per_image_rows(scores, methods),
    }


def _options_text(options: Mapping | None) -> str:
    """The settings line's end, e.g. ' Method options: rise masks=100.' ('' when all are defaults)."""
    if not options:
        return ""
    return " Method options: " + "; ".join(
        f"{m} " + ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in o.items())
        for m, o in options.items()) + "."


def _road_text(s: Mapping) -> str:
    pcts = s.get("road_percentages") or []
    return f"at {', '.join(f'{p:g}' for p in pcts)} % ({s['road']})" if pcts else "not run"


def _interval_text(resamples: int, seed: int) -> str:
    return (f"95 %. Means: BCa bootstrap over images ({resamples} resamples, seed {seed}); yes / no rates "
            f"(accuracy, pointing game, increase in confidence, agreement): Wilson. Paired comparisons pair "
            f"the same images: yes / no metrics by the {MCNEMAR} test with the {NEWCOMBE} of the "
            f"difference, the others by the {WILCOXON} test with the BCa interval of the mean difference. "
            f"Each question's family of tests (models x methods x metrics) is Holm-corrected; both raw and "
            f"adjusted p are shown, and a verdict uses the adjusted one at 0.05. Fewer than "
            f"{fewest_decisive(MCNEMAR)} images that disagree can never give p < 0.05 in either test: "
            f"the verdict is then \"not enough evidence\"")


def write_report(report: dict, out: Path) -> list[Path]:
    """report.json, report.md and the PNG curves into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plots = []
    methods = report["settings"]["methods"]
    for m in report["models"]:
        panels = []
        for kind, corner in (("deletion", "tr"), ("insertion", "br")):
            series = [(method, m["methods"][method]["curves"]) for method in methods
                      if m["methods"][method]["curves"]]
            panels.append(Panel(f"{m['name']}: {kind}", "fraction of pixels " + (
                "removed" if kind == "deletion" else "revealed"), "target probability",
                [(f"{lab} (AUC {number(m['methods'][lab][kind + '_auc']['mean'])})", c["fractions"], c[kind])
                 for lab, c in series], corner))
        if any(p.series for p in panels):
            name = f"curves_model_{_slug(m['name'])}.png"
            _write_atomic(out / name, lambda tmp, panels=panels: line_plot(panels).save(tmp, format="PNG"))
            plots.append(name)
            written.append(out / name)
    for method in methods:
        panels = []
        for kind, corner in (("deletion", "tr"), ("insertion", "br")):
            series = [(f"{m['name']} (AUC {number(m['methods'][method][kind + '_auc']['mean'])})",
                       m["methods"][method]["curves"]["fractions"], m["methods"][method]["curves"][kind])
                      for m in report["models"] if m["methods"][method]["curves"]]
            panels.append(Panel(f"{method}: {kind}", "fraction of pixels " + (
                "removed" if kind == "deletion" else "revealed"), "target probability", series, corner))
        if any(p.series for p in panels):
            name = f"curves_{_slug(method)}.png"
            _write_atomic(out / name, lambda tmp, panels=panels: line_plot(panels).save(tmp, format="PNG"))
            plots.append(name)
            written.append(out / name)
    for m in (report.get("sanity") or {}).get("models", []):
        image = cascade_figure(m, report["sanity"]["pass_rule"]["threshold"])
        if image is not None:
            name = f"sanity_cascade_{_slug(m['name'])}.png"
            _write_atomic(out / name, lambda tmp, image=image: image.save(tmp, format="PNG"))
            plots.append(name)
            written.append(out / name)
    report["plots"] = plots
    text = json.dumps(_json_safe(report), indent=1)
    _write_atomic(out / "report.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    md = markdown(report)
    _write_atomic(out / "report.md", lambda tmp: tmp.write_text(md, encoding="utf-8"))
    return [out / "report.json", out / "report.md", *written]

