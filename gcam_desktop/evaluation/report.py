"""The evaluation report: report.json, report.md and the PNG curves, written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.attention_switch import SWITCH_METRICS
from gcam_desktop.evaluation.plots import Panel, line_plot
from gcam_desktop.evaluation.scoring import METRIC_KEYS, TOP_FRACTION, ImageScore, SkippedImage
from gcam_desktop.explain.names import TOP_REGION
from gcam_desktop.evaluation.formatting import format_interval, number
from gcam_desktop.evaluation.statistics import summarize

FORMAT = "gcam-desktop/evaluation"
VERSION = 1
METRIC_LABELS = {  # (column title, which way is better)
    "pointing_game": ("pointing game", "higher"),
    "energy_in_mask": ("energy in mask", "higher"),
    "deletion_auc": ("deletion AUC", "lower"),
    "insertion_auc": ("insertion AUC", "higher"),
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
           f"{s['insertion_baseline']}); pointing tolerance {s['pointing_tolerance']}.",
           f"Intervals: {s['interval']}.", "",
           "## Does SE or s_se attention point at the object more often than the baseline?", "",
           report["answer"], ""]
    if report.get("attention_switch"):
        out += _switch_section(report)
    for method in s["methods"]:
        out += [f"## {method}", "",
                "| model | accuracy % | " + " | ".join(
                    f"{METRIC_LABELS[k][0]} ({METRIC_LABELS[k][1]} is better)" for k in METRIC_KEYS) + " |",
                "|---" * (2 + len(METRIC_KEYS)) + "|"]
        for m in report["models"]:
            b = m["methods"][method]
            cells = [format_interval(m["accuracy"], 100, 1, why=_why_missing(report, m, "accuracy"))]
            for k in METRIC_KEYS:
                digits = 1 if k in ("average_drop", "increase_in_confidence") else 3
                cells.append(format_interval(b[k], digits=digits, why=_why_missing(report, m, k)))
            out.append(f"| {m['name']} | " + " | ".join(cells) + " |")
        out += [""] + _not_finite_lines(report)
        if f"curves_{_slug(method)}.png" in report.get("plots", []):
            out += [f"![mean curves, {method}](curves_{_slug(method)}.png)", ""]
    if report["agreement"]:
        key = f"top{int(TOP_FRACTION * 100)}_iou"
        out += ["## Agreement between models", "",
                "| models | same prediction % | " + " | ".join(f"{TOP_REGION} IoU, {m}" for m in s["methods"]) + " |",
                "|---" * (2 + len(s["methods"])) + "|"]
        for a in report["agreement"]:
            out.append(f"| {a['models'][0]} / {a['models'][1]} | {format_interval(a['prediction_agreement'], 100, 1)} | "
                       + " | ".join(format_interval(a[key][m]) for m in s["methods"]) + " |")
        out.append("")
    out += ["## Mean curves per model", ""]
    for m in report["models"]:
        png = f"curves_model_{_slug(m['name'])}.png"
        if png in report.get("plots", []):
            out += [f"### {m['name']}", "", f"![{m['name']} deletion and insertion curves]({png})", ""]
    if report.get("mask_notes"):
        out += ["## Masks rescaled or not used", ""] + [f"- `{x['path']}`: {x['note']}"
                                                        for x in report["mask_notes"]] + [""]
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
                         f"{number(m['with'])} / {number(m['without'])}, {format_interval(m['difference'])}")
        out.append(f"| {c['model']} | {c['method']} | {c['images']} | " + " | ".join(cells)
                   + f" | {format_interval(c['prediction_changed'], 100, 1)} |")
    return out + [""]


def _why_missing(report: Mapping, model: Mapping, key: str) -> str:
    """Why a summary cell has no value (it is only shown where it has none)."""
    if model.get("outputs_not_finite") and model["outputs_not_finite"] >= report["images"]:
        return "output not finite"
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
                 reference: str | None = None) -> dict:
    summary = summarize(scores, entries, methods, resamples=resamples, seed=seed)
    return {
        "format": FORMAT, "version": VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data, "masks": masks, "images": len(scores),
        "images_with_masks": sum(1 for s in scores if s.mask),
        "skipped": [{"path": x.path, "reason": x.reason} for x in skipped],
        "mask_notes": [{"path": x.path, "note": x.mask_note} for x in scores if x.mask_note],
        "settings": {"methods": list(methods), "layer": layer, "steps": steps, "target": target,
                     "attention": attention, "attention_reference": reference,
                     "deletion_baseline": "zero (the mean colour, in normalised space)",
                     "insertion_baseline": "a Gaussian-blurred copy (sigma 5 px at 224)",
                     "pointing_tolerance": "15 px at 224 x 224, scaled with the mask's size",
                     "confidence_masking": "image * map in pixel space (Chattopadhay et al.)",
                     "interval": f"95 % percentile bootstrap of the mean over images, {resamples} resamples, "
                                 f"seed {seed}; comparisons pair the same images"},
        **summary,
        "per_image": per_image_rows(scores, methods),
    }


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
    report["plots"] = plots
    text = json.dumps(_json_safe(report), indent=1)
    _write_atomic(out / "report.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    md = markdown(report)
    _write_atomic(out / "report.md", lambda tmp: tmp.write_text(md, encoding="utf-8"))
    return [out / "report.json", out / "report.md", *written]

