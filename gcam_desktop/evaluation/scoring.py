"""The scoring core: every image x model x method scored with the metrics of
`gcam_desktop.explain.metrics`, yielded as each batch completes (the app's Quality tab drives
the same generator)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import torch

from gcam_desktop.explain import metrics as M
from gcam_desktop.explain.attention import attention_scope
from gcam_desktop.explain.model_state import model_device
from gcam_desktop.explain.names import TOP_FRACTION
from gcam_desktop.imaging import ImageLoadError, load_image

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.evaluation.masks import MaskError, read_mask

METRIC_KEYS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc", "road_morf", "road_lerf",
               "average_drop", "increase_in_confidence")
# A baseline map (explain/baselines.py) is scored like a method, under this prefix: "baseline:edges".
BASELINE_PREFIX = "baseline:"


def baseline_key(name: str) -> str:
    return BASELINE_PREFIX + name


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
    # ROAD (explain/road.py): the mean class probability over the percentages, most relevant
    # pixels removed first (lower is better) and least relevant first (higher); NaN where not run.
    # Last, so that positional construction (the app's tests) stays as it was.
    road_morf: float = math.nan
    road_lerf: float = math.nan

    def value(self, key: str) -> float:
        return float(getattr(self, key))


@dataclass
class ModelScore:
    pred: int
    prob: float
    true: int | None
    methods: dict[str, MethodScore]
    pred_name: str | None = None  # models with other class sets are compared by class name
    # False where the model's output was NaN or infinite (non-finite weights, an overflow): then
    # `pred` is meaningless and every metric is NaN, so the image gives this model no values.
    output_finite: bool = True

    @property
    def label(self) -> str | int:
        return self.pred if self.pred_name is None else self.pred_name

    @property
    def correct(self) -> bool | None:
        return None if self.true is None or not self.output_finite else self.pred == self.true


@dataclass
class ImageScore:
    path: str
    mask: str | None
    models: dict[str, ModelScore]
    top_iou: dict[str, dict[str, float]] = field(default_factory=dict)  # "a|b" -> method -> IoU
    mask_note: str | None = None  # a mask rescaled to its image, or refused (then `mask` is None)

    @property
    def models_agree(self) -> bool:
        return len({s.label for s in self.models.values() if s.output_finite}) <= 1


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
                 keep_maps: bool = False, seed: int = 0, baselines: Sequence[str] = (),
                 road_percentages: Sequence[float] = (), options: Mapping[str, Mapping] | None = None
                 ) -> Iterator[ImageScore | SkippedImage]:
    """Score every image with every model and method, yielding as each batch completes.

    `baselines` (names of explain/baselines.py) are scored with the same metrics, as methods
    named baseline_key(name). `road_percentages`: also ROAD at these percentages (empty: not run;
    it solves a sparse system per image, percentage and order, so it is the costliest metric).
    `options`: method -> its explain() options (RISE's masks, LRP's composite, ...).

    A consumer that stops iterating (a cancelled job) stops the work after the current batch.
    Unreadable images and masks are yielded as SkippedImage / scored without a mask.
    """
    if target not in ("true", "pred"):
        raise ValueError(f"target must be 'true' or 'pred', not {target!r}")
    side = max([int(e.meta.get("input_size", 224)) for e in entries] or [224])
    for batch_paths in _chunks([Path(p) for p in paths], max(1, int(batch_size))):
        imgs, kept, masks, mask_paths, notes = [], [], [], [], []
        for p in batch_paths:
            try:
                img = load_image(p, min_size=(side, side))  # decoded no larger than the models need
            except (ImageLoadError, OSError) as exc:
                yield SkippedImage(str(p), getattr(exc, "reason", None) or str(exc))
                continue
            imgs.append(img)
            kept.append(p)
            mp = masks_for(p) if masks_for else None
            mask, note = None, None
            if mp is not None:
                size = img.info.get("original_size", img.size)
                try:
                    mask, note = read_mask(mp, size)
                except MaskError as exc:
                    note, mp = f"mask {mp}: {exc.reason}", None
                except (ImageLoadError, OSError) as exc:
                    note, mp = f"mask {mp} is unreadable ({getattr(exc, 'reason', exc)}); scored without it", None
            masks.append(mask)
            mask_paths.append(mp)
            notes.append(note)
        if not kept:
            continue
        per_model: dict[str, list[ModelScore]] = {}
        explained: dict[str, list[str]] = {}  # the class name each model's maps explain, per image
        maps_by: dict[str, dict[str, torch.Tensor]] = {}
        how = _How(layer, steps, target, forward_batch, keep_curves, keep_maps, seed, tuple(baselines),
                   tuple(road_percentages), dict(options or {}))
        for e in entries:
            # Every forward of this entry (prediction, map, deletion / insertion, confidence) runs
            # with its attention as asked: a per-call scope, the model object is shared as it is.
            with attention_scope(e.model, e.attention, e.gate_means):
                per_model[e.name], maps_by[e.name], explained[e.name] = _score_entry(e, imgs, kept, masks,
                                                                                     methods, how)
        ious: dict[str, dict[str, torch.Tensor]] = {}
        for a, b in model_pairs([e.name for e in entries]):
            # Maps are compared only where both explain the same class name (None: the model's
            # output was not finite); NaN elsewhere.
            same = torch.tensor([x is not None and x == y for x, y in zip(explained[a], explained[b])])
            ious[f"{a}|{b}"] = {m: torch.where(same, M.top_region_iou(maps_by[a][m], maps_by[b][m], TOP_FRACTION, seed)
                                               .float().cpu(), torch.tensor(math.nan)) for m in methods}
        for i, p in enumerate(kept):
            yield ImageScore(
                path=str(p), mask=str(mask_paths[i]) if mask_paths[i] else None,
                models={name: s[i] for name, s in per_model.items()},
                top_iou={pair: {m: float(v[i]) for m, v in d.items()} for pair, d in ious.items()},
                mask_note=notes[i])


@dataclass(frozen=True)
class _How:
    """How score_images scores: its options, passed down as one."""

    layer: str | None
    steps: int
    target: str
    forward_batch: int
    keep_curves: bool
    keep_maps: bool
    seed: int
    baselines: tuple[str, ...] = ()
    road: tuple[float, ...] = ()
    options: Mapping[str, Mapping] = field(default_factory=dict)


def _score_entry(e: ModelEntry, imgs, kept: Sequence[Path], masks, methods: Sequence[str], how: _How
                 ) -> tuple[list[ModelScore], dict[str, torch.Tensor], list[str]]:
    """One model's scores and maps for one batch of images, and the class name each map explains."""
    from gcam_desktop import explain as engine  # the package; imported late so the metrics work without it
    from gcam_desktop.explain.baselines import baseline_maps
    from gcam_desktop.imaging.preprocess import preprocess_batch, true_class_from_path

    device = model_device(e.model)[0]
    x = preprocess_batch(imgs, e.meta).to(device)
    with torch.no_grad():
        probs = torch.softmax(e.model(x).float(), 1)
    pred = probs.argmax(1)
    ok = torch.isfinite(probs).all(1).tolist()  # NaN / infinite outputs: no values for those images
    names = e.meta.get("class_names") or []
    true = [true_class_from_path(p, names) for p in kept]
    targets = pred.clone()
    if how.target == "true":
        for i, t in enumerate(true):
            if t is not None:
                targets[i] = t
    label = lambda c: names[c] if c < len(names) else str(c)  # noqa: E731
    scores = [ModelScore(int(pred[i]), float(probs[i, pred[i]]), true[i], {}, label(int(pred[i])), ok[i])
              for i in range(len(kept))]
    maps_by: dict[str, torch.Tensor] = {}
    for method in methods:
        ex = engine.explain(e.model, x, method=method, layer=how.layer, targets=targets, top_k=1,
                            **how.options.get(method, {}))
        maps = ex.maps[:, 0].detach().float().to(device)
        maps_by[method] = maps.cpu()
        _score_maps(e, x, maps, targets, probs, masks, ok, scores, method, how)
    for name in how.baselines:  # maps that know nothing of the model, through the same metrics
        maps = baseline_maps(name, x, how.seed).to(device)
        _score_maps(e, x, maps, targets, probs, masks, ok, scores, baseline_key(name), how)
    return scores, maps_by, [label(int(t)) if ok[i] else None for i, t in enumerate(targets)]


def _score_maps(e: ModelEntry, x, maps, targets, probs, masks, ok, scores: list[ModelScore], key: str,
                how: _How) -> None:
    """Every metric of one set of maps (one per image), stored under scores[i].methods[key]."""
    from gcam_desktop.explain.road import road

    curves = M.deletion_insertion(e.model, x, maps, targets, how.steps, probs=probs,
                                  batch_size=how.forward_batch, seed=how.seed)
    cc = M.confidence_change(e.model, x, maps, targets, probs=probs, mean=e.meta.get("mean"),
                             std=e.meta.get("std"), batch_size=how.forward_batch)
    morf = lerf = torch.full((len(scores),), math.nan)
    if how.road:
        r = road(e.model, x, maps, targets, how.road, seed=how.seed, batch_size=how.forward_batch)
        morf, lerf = r.morf_mean(), r.lerf_mean()
    d, ins = curves["deletion"], curves["insertion"]
    for i in range(len(scores)):
        if not ok[i]:
            scores[i].methods[key] = _no_values(int(targets[i]))
            continue
        point = energy = math.nan
        if masks[i] is not None:
            point = float(M.pointing_game(maps[i:i + 1].cpu(), masks[i][None])[0])
            energy = float(M.energy_in_mask(maps[i:i + 1].cpu(), masks[i][None])[0])
        scores[i].methods[key] = MethodScore(
            target=int(targets[i]), pointing_game=point, energy_in_mask=energy,
            deletion_auc=float(d.auc[i]), insertion_auc=float(ins.auc[i]),
            average_drop=float(cc.drop[i]), increase_in_confidence=100.0 * float(cc.increase[i]),
            road_morf=float(morf[i]), road_lerf=float(lerf[i]),
            deletion_curve=d.probs[i].tolist() if how.keep_curves else [],
            insertion_curve=ins.probs[i].tolist() if how.keep_curves else [],
            map=maps[i].cpu() if how.keep_maps else None)


def _no_values(target: int) -> MethodScore:
    """The scores of an image the model's output was not finite on: none (NaN is dropped from
    every mean; the report shows a dash and says why)."""
    nan = math.nan
    return MethodScore(target=target, pointing_game=nan, energy_in_mask=nan, deletion_auc=nan,
                       insertion_auc=nan, average_drop=nan, increase_in_confidence=nan)


def model_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]

