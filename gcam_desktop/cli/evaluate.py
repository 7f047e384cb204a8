"""gcam-evaluate: explanation quality per model and method over a labelled image folder. Qt-free.

For every image (ImageFolder layout: the parent folder names the class) and every checkpoint,
each method's map for the target class (the true class where the folder names one, else the
prediction) is scored with the metrics of `gcam_desktop.explain.metrics`: pointing game and
energy in mask where an object mask exists, deletion / insertion AUC, average drop and
increase in confidence. The report gives per model and method the mean and a 95 % percentile
bootstrap interval of each, accuracy, agreement between models (same prediction, IoU of the
top-20 % regions), and answers whether SE / s_se attention points at the object more often
than the plain ResNet50 (paired bootstrap over the same images). Written as report.json,
report.md and PNG curves.

Masks: `--masks DIR` mirrors the data folder (DIR/<class>/<name>.png, 255 = object); without
it, the synthetic set's layout is found by itself (OUT/images/<class>/x.png beside
OUT/masks/<class>/x.png).

The scoring core (`score_images`) is a generator the app's Quality panel drives too.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from gcam_desktop.imaging import ImageLoadError, IMAGE_EXTENSIONS, load_image, scan_folder
from gcam_desktop.explain import metrics as M

FORMAT = "gcam-desktop/evaluation"
VERSION = 1
TOP_FRACTION = 0.2
MAX_MASK_SIDE = 512  # masks of huge photos are scored at this size (tolerance scales along)
BASELINE_ARCH = "resnet50"
ATTENTION_ARCHS = ("se_resnet50", "s_se_resnet50")
METRIC_KEYS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc", "average_drop",
               "increase_in_confidence")
METRIC_LABELS = {  # (column title, which way is better)
    "pointing_game": ("pointing game", "higher"),
    "energy_in_mask": ("energy in mask", "higher"),
    "deletion_auc": ("deletion AUC", "lower"),
    "insertion_auc": ("insertion AUC", "higher"),
    "average_drop": ("average drop %", "lower"),
    "increase_in_confidence": ("increase in confidence %", "higher"),
}


# ----------------------------------------------------------------------------------------- inputs

@dataclass
class ModelEntry:
    """A loaded model under a display name, with its checkpoint metadata."""

    name: str
    model: nn.Module
    meta: Mapping
    path: str | None = None

    @property
    def arch(self) -> str:
        return str(self.meta.get("arch") or getattr(self.model, "arch", "?"))


def name_entries(paths_and_archs: Sequence[tuple[str, str]]) -> list[str]:
    """Display names: the architecture where it is unique, else the file's stem."""
    archs = [a for _, a in paths_and_archs]
    names = []
    for path, arch in paths_and_archs:
        name = arch if archs.count(arch) == 1 else Path(path).stem
        while name in names:
            name += "'"
        names.append(name)
    return names


def load_entries(checkpoints: Sequence[str | os.PathLike], device=None) -> list[ModelEntry]:
    """Load checkpoints (raises CheckpointError naming the file that fails)."""
    from gcam_desktop.models import load_checkpoint

    loaded = [(str(p), *load_checkpoint(p, map_location=device)) for p in checkpoints]
    names = name_entries([(p, meta["arch"]) for p, _, meta in loaded])
    return [ModelEntry(n, m, meta, p) for n, (p, m, meta) in zip(names, loaded)]


def split_dataset_root(data: Path, masks: Path | None) -> tuple[Path, Path | None]:
    """(folder of class folders, masks folder): a synthetic set's OUT resolves to OUT/images."""
    if masks is None and (data / "images").is_dir() and (data / "masks").is_dir():
        return data / "images", data / "masks"
    return data, masks


def mask_path_for(image: Path, root: Path, masks: Path | None) -> Path | None:
    """The mask file of `image`, if one exists: mirrored under `masks`, else found by swapping
    the nearest `images` folder of its path for a sibling `masks` folder."""
    candidates: list[Path] = []
    if masks is not None:
        try:
            rel = image.relative_to(root)
        except ValueError:
            rel = Path(image.parent.name) / image.name
        candidates.append(masks / rel)
    else:
        parts = list(image.parts)
        for i in range(len(parts) - 2, -1, -1):
            if parts[i] == "images":
                candidates.append(Path(*parts[:i], "masks", *parts[i + 1:]))
                break
    for c in candidates:
        for suffix in dict.fromkeys([".png", c.suffix, *sorted(IMAGE_EXTENSIONS)]):
            p = c.with_suffix(suffix)
            if p.is_file():
                return p
    return None


def load_mask(path: Path) -> torch.Tensor:
    """H x W bool (object = bright), at most MAX_MASK_SIDE on its longer side."""
    img = load_image(path).convert("L")
    if max(img.size) > MAX_MASK_SIDE:
        scale = MAX_MASK_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.NEAREST)
    return torch.from_numpy(np.asarray(img) >= 128)


# ----------------------------------------------------------------------------------- per image

@dataclass
class MethodScore:
    target: int
    pointing_game: float  # NaN without a mask
    energy_in_mask: float  # NaN without a mask
    deletion_auc: float
    insertion_auc: float
    average_drop: float  # this image's drop, percent
    increase_in_confidence: float  # 100 if confidence rose, else 0 (its mean is the percentage)
    deletion_curve: list[float] = field(repr=False, default_factory=list)
    insertion_curve: list[float] = field(repr=False, default_factory=list)
    map: torch.Tensor | None = field(repr=False, default=None)  # H x W in [0, 1], kept on request

    def value(self, key: str) -> float:
        return float(getattr(self, key))


@dataclass
class ModelScore:
    pred: int
    prob: float
    true: int | None
    methods: dict[str, MethodScore]

    @property
    def correct(self) -> bool | None:
        return None if self.true is None else self.pred == self.true


@dataclass
class ImageScore:
    path: str
    mask: str | None
    models: dict[str, ModelScore]
    top_iou: dict[str, dict[str, float]] = field(default_factory=dict)  # "a|b" -> method -> IoU

    @property
    def models_agree(self) -> bool:
        return len({s.pred for s in self.models.values()}) <= 1


@dataclass
class SkippedImage:
    path: str
    reason: str


def _chunks(seq: Sequence, n: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def score_images(entries: Sequence[ModelEntry], paths: Sequence[str | os.PathLike],
                 methods: Sequence[str] = ("gradcam",), *, masks_for: Callable[[Path], Path | None] | None = None,
                 layer: str | None = None, steps: int = 20, target: str = "true", batch_size: int = 8,
                 forward_batch: int = M.DEFAULT_BATCH_SIZE, keep_curves: bool = True,
                 keep_maps: bool = False, seed: int = 0) -> Iterator[ImageScore | SkippedImage]:
    """Score every image with every model and method, yielding as each batch completes.

    A consumer that stops iterating (a cancelled job) stops the work after the current batch.
    Unreadable images and masks are yielded as SkippedImage / scored without a mask.
    """
    from gcam_desktop import explain as engine  # the package; imported late so the metrics work without it
    from gcam_desktop.imaging.preprocess import preprocess_batch, true_class_from_path

    if target not in ("true", "pred"):
        raise ValueError(f"target must be 'true' or 'pred', not {target!r}")
    for batch_paths in _chunks([Path(p) for p in paths], max(1, int(batch_size))):
        imgs, kept, masks, mask_paths = [], [], [], []
        for p in batch_paths:
            try:
                imgs.append(load_image(p))
            except (ImageLoadError, OSError) as exc:
                yield SkippedImage(str(p), getattr(exc, "reason", None) or str(exc))
                continue
            kept.append(p)
            mp = masks_for(p) if masks_for else None
            mask = None
            if mp is not None:
                try:
                    mask = load_mask(mp)
                except (ImageLoadError, OSError) as exc:
                    print(f"warning: mask {mp} of {p} is unreadable ({exc}); scoring without it", file=sys.stderr)
                    mp = None
            masks.append(mask)
            mask_paths.append(mp)
        if not kept:
            continue
        per_model: dict[str, list[ModelScore]] = {}
        maps_by: dict[str, dict[str, torch.Tensor]] = {}
        for e in entries:
            device = M._model_device(e.model, torch.device("cpu"))
            x = preprocess_batch(imgs, e.meta).to(device)
            with torch.no_grad():
                probs = torch.softmax(e.model(x).float(), 1)
            pred = probs.argmax(1)
            names = e.meta.get("class_names") or []
            true = [true_class_from_path(p, names) for p in kept]
            targets = pred.clone()
            if target == "true":
                for i, t in enumerate(true):
                    if t is not None:
                        targets[i] = t
            scores = [ModelScore(int(pred[i]), float(probs[i, pred[i]]), true[i], {}) for i in range(len(kept))]
            maps_by[e.name] = {}
            for method in methods:
                ex = engine.explain(e.model, x, method=method, layer=layer, targets=targets, top_k=1)
                maps = ex.maps[:, 0].detach().float().to(device)
                maps_by[e.name][method] = maps.cpu()
                curves = M.deletion_insertion(e.model, x, maps, targets, steps, probs=probs,
                                              batch_size=forward_batch, seed=seed)
                cc = M.confidence_change(e.model, x, maps, targets, probs=probs, mean=e.meta.get("mean"),
                                         std=e.meta.get("std"), batch_size=forward_batch)
                d, ins = curves["deletion"], curves["insertion"]
                for i in range(len(kept)):
                    point = energy = math.nan
                    if masks[i] is not None:
                        point = float(M.pointing_game(maps[i:i + 1].cpu(), masks[i][None])[0])
                        energy = float(M.energy_in_mask(maps[i:i + 1].cpu(), masks[i][None])[0])
                    scores[i].methods[method] = MethodScore(
                        target=int(targets[i]), pointing_game=point, energy_in_mask=energy,
                        deletion_auc=float(d.auc[i]), insertion_auc=float(ins.auc[i]),
                        average_drop=float(cc.drop[i]), increase_in_confidence=100.0 * float(cc.increase[i]),
                        deletion_curve=d.probs[i].tolist() if keep_curves else [],
                        insertion_curve=ins.probs[i].tolist() if keep_curves else [],
                        map=maps[i].cpu() if keep_maps else None)
            per_model[e.name] = scores
        ious: dict[str, dict[str, torch.Tensor]] = {}
        for a, b in _pairs([e.name for e in entries]):
            ious[f"{a}|{b}"] = {m: M.top_region_iou(maps_by[a][m], maps_by[b][m], TOP_FRACTION, seed)
                                for m in methods}
        for i, p in enumerate(kept):
            yield ImageScore(
                path=str(p), mask=str(mask_paths[i]) if mask_paths[i] else None,
                models={name: s[i] for name, s in per_model.items()},
                top_iou={pair: {m: float(v[i]) for m, v in d.items()} for pair, d in ious.items()})


def _pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


# ---------------------------------------------------------------------------------- statistics

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
        entry = {"name": e.name, "arch": e.arch, "checkpoint": e.path,
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
    for a, b in _pairs([e.name for e in entries]):
        both = [s for s in scores if a in s.models and b in s.models]
        agreement.append({
            "models": [a, b],
            "prediction_agreement": ci([float(s.models[a].pred == s.models[b].pred) for s in both]),
            f"top{int(TOP_FRACTION * 100)}_iou": {m: ci([s.top_iou.get(f"{a}|{b}", {}).get(m, math.nan)
                                                        for s in both]) for m in methods},
        })
    comparison = compare_attention(scores, entries, methods, resamples=resamples, seed=seed)
    return {"models": models, "agreement": agreement, "comparison": comparison,
            "answer": answer_text(comparison, entries, scores)}


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
    bases = [e for e in entries if e.arch == BASELINE_ARCH]
    others = [e for e in entries if e.arch in ATTENTION_ARCHS]
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
        c["verdict"] = _verdict(c)
    return out


def _verdict(c: Mapping) -> str:
    d = c["pointing_difference"]
    if not c["images"]:
        return "no images with masks to compare on"
    if d["lo"] > 0:
        return "yes"
    if d["hi"] < 0:
        return "no (less often)"
    return "no clear difference"


def answer_text(comparison: Sequence[Mapping], entries: Sequence[ModelEntry],
                scores: Sequence[ImageScore]) -> str:
    """Plain-language answer: does SE or s_se attention point at the object more often?"""
    archs = {e.arch for e in entries}
    if BASELINE_ARCH not in archs or not archs & set(ATTENTION_ARCHS):
        return ("Cannot answer: it needs a resnet50 checkpoint and an se_resnet50 or s_se_resnet50 "
                f"checkpoint (given: {', '.join(sorted(archs)) or 'none'}).")
    if not any(s.mask for s in scores):
        return "Cannot answer: no image has an object mask (pass --masks DIR or use a synthetic set)."
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


# ----------------------------------------------------------------------------------- the report

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
            name: {"pred": m.pred, "prob": round(m.prob, 6), "true": m.true, "correct": m.correct,
                   "methods": {k: {key: round(v.value(key), 6) for key in METRIC_KEYS} | {"target": v.target}
                               for k, v in m.methods.items()}}
            for name, m in s.models.items()}})
    return rows


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    from gcam_desktop.files import atomic_write

    atomic_write(path, lambda tmp: write(Path(tmp)))


def _fmt(c: Mapping, pct: bool = False) -> str:
    if c.get("mean") is None:
        return "–"
    f = (lambda x: f"{x * 100:.1f}") if pct else (lambda x: f"{x:.3f}")
    return f"{f(c['mean'])} [{f(c['lo'])}, {f(c['hi'])}]"


def _fmt_plain(c: Mapping) -> str:
    if c.get("mean") is None:
        return "–"
    return f"{c['mean']:.1f} [{c['lo']:.1f}, {c['hi']:.1f}]"


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
    for method in s["methods"]:
        out += [f"## {method}", "",
                "| model | accuracy % | " + " | ".join(
                    f"{METRIC_LABELS[k][0]} ({METRIC_LABELS[k][1]} is better)" for k in METRIC_KEYS) + " |",
                "|---" * (2 + len(METRIC_KEYS)) + "|"]
        for m in report["models"]:
            b = m["methods"][method]
            cells = [_fmt(m["accuracy"], pct=True)]
            for k in METRIC_KEYS:
                cells.append(_fmt_plain(b[k]) if k in ("average_drop", "increase_in_confidence") else _fmt(b[k]))
            out.append(f"| {m['name']} | " + " | ".join(cells) + " |")
        out.append("")
        if f"curves_{_slug(method)}.png" in report.get("plots", []):
            out += [f"![mean curves, {method}](curves_{_slug(method)}.png)", ""]
    if report["agreement"]:
        key = f"top{int(TOP_FRACTION * 100)}_iou"
        out += ["## Agreement between models", "",
                "| models | same prediction % | " + " | ".join(f"top-20 % IoU, {m}" for m in s["methods"]) + " |",
                "|---" * (2 + len(s["methods"])) + "|"]
        for a in report["agreement"]:
            out.append(f"| {a['models'][0]} / {a['models'][1]} | {_fmt(a['prediction_agreement'], pct=True)} | "
                       + " | ".join(_fmt(a[key][m]) for m in s["methods"]) + " |")
        out.append("")
    out += ["## Mean curves per model", ""]
    for m in report["models"]:
        png = f"curves_model_{_slug(m['name'])}.png"
        if png in report.get("plots", []):
            out += [f"### {m['name']}", "", f"![{m['name']} deletion and insertion curves]({png})", ""]
    if report["skipped"]:
        out += ["## Skipped images", ""] + [f"- `{x['path']}`: {x['reason']}" for x in report["skipped"]] + [""]
    out += ["Per-image values are in `report.json` (`per_image`)."]
    return "\n".join(out) + "\n"


def _slug(name: str) -> str:
    """A file-name-safe form: gradcam++ -> gradcampp."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "p" if ch == "+" else "_" for ch in name)


def build_report(scores: Sequence[ImageScore], skipped: Sequence[SkippedImage], entries: Sequence[ModelEntry],
                 methods: Sequence[str], *, data: str, masks: str | None, layer: str | None, steps: int,
                 target: str, resamples: int = 2000, seed: int = 0) -> dict:
    summary = summarize(scores, entries, methods, resamples=resamples, seed=seed)
    return {
        "format": FORMAT, "version": VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data, "masks": masks, "images": len(scores),
        "images_with_masks": sum(1 for s in scores if s.mask),
        "skipped": [{"path": x.path, "reason": x.reason} for x in skipped],
        "settings": {"methods": list(methods), "layer": layer, "steps": steps, "target": target,
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
                [(f"{lab} (AUC {m['methods'][lab][kind + '_auc']['mean']:.3f})", c["fractions"], c[kind])
                 for lab, c in series], corner))
        if any(p.series for p in panels):
            name = f"curves_model_{_slug(m['name'])}.png"
            _write_atomic(out / name, lambda tmp, panels=panels: line_plot(panels).save(tmp, format="PNG"))
            plots.append(name)
            written.append(out / name)
    for method in methods:
        panels = []
        for kind, corner in (("deletion", "tr"), ("insertion", "br")):
            series = [(f"{m['name']} (AUC {m['methods'][method][kind + '_auc']['mean']:.3f})",
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


# ------------------------------------------------------------------------------- PNG line plots

@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[tuple[str, Sequence[float], Sequence[float]]]  # (label, xs, ys), both in [0, 1]
    legend: str = "tr"  # corner: tr, br


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def _palette(n: int) -> list[tuple[int, int, int]]:
    from cmap import Colormap

    colors = [tuple(int(round(255 * v)) for v in c.rgba[:3]) for c in Colormap("tab10").iter_colors()]
    return [colors[i % len(colors)] for i in range(n)]


def line_plot(panels: Sequence[Panel], panel_size: tuple[int, int] = (460, 340), scale: int = 2) -> Image.Image:
    """Panels side by side, axes [0, 1] x [0, 1] with ticks, grid and a legend. Drawn at
    `scale` times the size and reduced, which anti-aliases the lines without matplotlib."""
    pw, ph = panel_size[0] * scale, panel_size[1] * scale
    img = Image.new("RGB", (pw * len(panels), ph), "white")
    draw = ImageDraw.Draw(img)
    small, normal = _font(11 * scale), _font(13 * scale)
    for j, panel in enumerate(panels):
        ox = j * pw
        left, right, top, bottom = ox + 58 * scale, ox + pw - 14 * scale, 30 * scale, ph - 46 * scale
        to_px = lambda x, y: (left + x * (right - left), bottom - y * (bottom - top))  # noqa: E731
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            x, _ = to_px(t, 0)
            _, y = to_px(0, t)
            draw.line([(x, top), (x, bottom)], fill=(228, 228, 228), width=scale)
            draw.line([(left, y), (right, y)], fill=(228, 228, 228), width=scale)
            draw.text((x, bottom + 6 * scale), f"{t:g}", fill="black", font=small, anchor="mt")
            draw.text((left - 6 * scale, y), f"{t:g}", fill="black", font=small, anchor="rm")
        draw.rectangle([left, top, right, bottom], outline="black", width=scale)
        draw.text(((left + right) / 2, 8 * scale), panel.title, fill="black", font=normal, anchor="mt")
        draw.text(((left + right) / 2, ph - 8 * scale), panel.xlabel, fill="black", font=small, anchor="mb")
        label = Image.new("RGB", (int(draw.textlength(panel.ylabel, font=small)) + 4, 16 * scale), "white")
        ImageDraw.Draw(label).text((2, 0), panel.ylabel, fill="black", font=small)
        label = label.rotate(90, expand=True)
        img.paste(label, (ox + 4 * scale, int((top + bottom) / 2 - label.height / 2)))
        colors = _palette(len(panel.series))
        for (name, xs, ys), col in zip(panel.series, colors):
            pts = [to_px(min(max(float(x), 0), 1), min(max(float(y), 0), 1)) for x, y in zip(xs, ys)]
            if len(pts) > 1:
                draw.line(pts, fill=col, width=2 * scale, joint="curve")
        if panel.series:
            line_h = 16 * scale
            width = max(draw.textlength(n, font=small) for n, _, _ in panel.series) + 34 * scale
            height = line_h * len(panel.series) + 8 * scale
            lx = right - width - 8 * scale
            ly = top + 8 * scale if panel.legend == "tr" else bottom - height - 8 * scale
            draw.rectangle([lx, ly, lx + width, ly + height], fill="white", outline=(160, 160, 160), width=scale)
            for k, ((name, _, _), col) in enumerate(zip(panel.series, colors)):
                y = ly + 4 * scale + k * line_h + line_h / 2
                draw.line([(lx + 6 * scale, y), (lx + 24 * scale, y)], fill=col, width=2 * scale)
                draw.text((lx + 30 * scale, y), name, fill="black", font=small, anchor="lm")
    return img.resize((img.width // scale, img.height // scale), Image.LANCZOS)


# ---------------------------------------------------------------------------------------- CLI

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gcam-evaluate",
        description="Score explanation maps of one or more checkpoints over a labelled image folder "
                    "(deletion / insertion, pointing game, energy in mask, average drop / increase) and "
                    "write report.json, report.md and PNG curves.")
    ap.add_argument("data", help="image folder with one subfolder per class (or a synthetic set's folder)")
    ap.add_argument("-c", "--checkpoint", nargs="+", default=[], metavar="CKPT", help="checkpoints to compare")
    ap.add_argument("--demo", action="store_true", help="add the demo checkpoints that exist")
    ap.add_argument("--masks", type=Path, help="object masks mirroring DATA: MASKS/<class>/<name>.png (255 = object)")
    ap.add_argument("--methods", nargs="+", default=["gradcam"], help="explanation methods (default: gradcam)")
    ap.add_argument("--layer", help="layer to explain (default: each model's default layer)")
    ap.add_argument("--steps", type=int, default=20, help="deletion / insertion steps (default 20)")
    ap.add_argument("--target", choices=("true", "pred"), default="true",
                    help="explain the true class (from the folder name; the default) or the prediction")
    ap.add_argument("--per-class", type=int, help="score at most N images of each class folder")
    ap.add_argument("--limit", type=int, help="score at most N images in all")
    ap.add_argument("--batch-size", type=int, default=8, help="images explained together (default 8)")
    ap.add_argument("--forward-batch", type=int, default=M.DEFAULT_BATCH_SIZE,
                    help=f"perturbed pictures per forward (default {M.DEFAULT_BATCH_SIZE})")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, default=Path("gcam-evaluation"), help="output folder")
    return ap


def select_images(root: Path, per_class: int | None = None, limit: int | None = None,
                  on_error=None) -> list[Path]:
    paths = list(scan_folder(root, on_error=on_error))
    if per_class:
        counts: dict[Path, int] = {}
        kept = []
        for p in paths:
            if counts.get(p.parent, 0) < per_class:
                counts[p.parent] = counts.get(p.parent, 0) + 1
                kept.append(p)
        paths = kept
    return paths[:limit] if limit else paths


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = lambda msg: print(f"gcam-evaluate: {msg}", file=sys.stderr)  # noqa: E731
    data = Path(args.data).expanduser()
    if not data.is_dir():
        err(f"{data}: no such folder")
        return 2
    if args.masks is not None and not args.masks.is_dir():
        err(f"{args.masks}: no such masks folder")
        return 2
    if args.steps < 1:
        err(f"--steps must be at least 1, not {args.steps}")
        return 2
    checkpoints = list(args.checkpoint)
    if args.demo:
        from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint

        found = [str(demo_checkpoint(a)) for a in DEMO_ARCHS if demo_checkpoint(a).is_file()]
        if not found:
            err("no demo checkpoints yet; make them with `gcam-train demo`")
        checkpoints += found
    if not checkpoints:
        err("no checkpoints: pass --checkpoint FILE [FILE ...] or --demo")
        return 2

    from gcam_desktop.explain import METHODS
    from gcam_desktop.models import CheckpointError, pick_device

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        err(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        return 2
    try:
        device = pick_device(args.device)
    except ValueError as exc:
        err(str(exc))
        return 2
    entries = []
    for ckpt in checkpoints:  # one bad file is reported and left out; the others still run
        try:
            entries += load_entries([ckpt], device)
        except CheckpointError as exc:
            err(f"skipping checkpoint {exc}")
    if not entries:
        err("no usable checkpoint")
        return 2
    names = name_entries([(e.path or e.name, e.arch) for e in entries])
    for e, n in zip(entries, names):
        e.name = n

    root, masks_dir = split_dataset_root(data, args.masks)
    paths = select_images(root, args.per_class, args.limit,
                          on_error=lambda p, msg: err(f"cannot read folder {p}: {msg}"))
    if not paths:
        err(f"{root}: no images found")
        return 2
    print(f"scoring {len(paths)} images from {root} with {', '.join(e.name for e in entries)} on {device}; "
          f"masks: {masks_dir or 'auto (images/ -> masks/)'}", file=sys.stderr)

    from tqdm import tqdm

    scores, skipped = [], []
    with tqdm(total=len(paths), unit="img", file=sys.stderr, disable=None) as bar:
        for item in score_images(entries, paths, args.methods,
                                 masks_for=lambda p: mask_path_for(p, root, masks_dir), layer=args.layer,
                                 steps=args.steps, target=args.target, batch_size=args.batch_size,
                                 forward_batch=args.forward_batch, seed=args.seed):
            if isinstance(item, SkippedImage):
                err(f"skipping {item.path}: {item.reason}")
                skipped.append(item)
            else:
                scores.append(item)
            bar.update(1)
    if not scores:
        err("every image failed to load; nothing to report")
        return 1
    mask_root = masks_dir or (next((Path(s.mask).parent.parent for s in scores if s.mask), None))
    report = build_report(scores, skipped, entries, args.methods, data=str(data),
                          masks=str(mask_root) if mask_root else None, layer=args.layer, steps=args.steps,
                          target=args.target, resamples=args.resamples, seed=args.seed)
    try:
        files = write_report(report, args.out)
    except OSError as exc:
        err(f"cannot write the report to {args.out}: {exc}")
        return 1
    print(report["answer"])
    print(f"report: {files[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
