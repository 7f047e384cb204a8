"""gcam-evaluate --sanity: the sanity checks of explain/sanity.py (docs/adr/0018) for every model
and method over a few images, summarised per method: the cascade's similarity curve (mean and
spread over the images), its pass / fail, class sensitivity, and, given a shuffled-labels
checkpoint of the same architecture, the data-randomisation test (the real model's maps against
the shuffled one's, image by image). The rules for several images are docs/adr/0026."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from gcam_desktop.evaluation.inputs import ModelEntry
from gcam_desktop.explain.sanity import (CLASS_THRESHOLD, MEASURES, PASS_STAGE, PASS_THRESHOLD, MethodSanity,
                                         class_sensitivity, explains_class, parameter_randomisation, passes,
                                         similarity)

ORIGINAL = "original"


def spread(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (None for one value) and count of the finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not v.size:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None, "n": int(v.size)}


def run_sanity(entries: Sequence[ModelEntry], images: Sequence, methods: Sequence[str], *,
               layer: str | None = None, independent: bool = False, seed: int = 0,
               shuffled: ModelEntry | None = None, step: Callable[[], None] | None = None,
               options: Mapping[str, Mapping] | None = None) -> dict:
    """The checks for each model as trained (not its attention-switched copies) and method, over
    `images` (PIL images, each preprocessed per model). `step` is called once per model and image."""
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.explain.model_state import model_device

    models = []
    for e in (e for e in entries if e.base is None):
        device = model_device(e.model)[0]
        cascades, classes, data = [], [], []
        for img in images:
            x = preprocess_batch([img], e.meta).to(device)
            # One explanation per method for the predicted and the least likely class: the class
            # test, and (its first map) the original that the cascade and the data test compare with.
            originals: dict = {}
            classes.append(class_sensitivity(e.model, x, methods, layer=layer, keep=originals, options=options))
            cascades.append(parameter_randomisation(e.model, x, methods, layer=layer, seed=seed,
                                                    independent=independent, originals=originals, options=options))
            if shuffled is not None and shuffled.arch == e.arch:
                data.append(_data_randomisation(shuffled, x, methods, layer, originals, options or {}))
            if step is not None:
                step()
        models.append({"name": e.name, "arch": e.arch, "methods": {
            m: _method_summary(m, [c[i] for c in cascades], [c[i] for c in classes],
                               [d[m] for d in data], independent) for i, m in enumerate(methods)}})
    return {"images": len(images), "independent": independent, "seed": seed,
            "shuffled": shuffled.path if shuffled is not None else None,
            "pass_rule": {"stage": PASS_STAGE, "threshold": PASS_THRESHOLD, "class_threshold": CLASS_THRESHOLD},
            "models": models}


def _data_randomisation(shuffled: ModelEntry, x, methods: Sequence[str], layer: str | None,
                        originals: Mapping, options: Mapping) -> dict:
    """Per method, the similarity of the real model's map (`originals[m]`'s first, for the class
    the real model predicts) to the shuffled-labels model's for that class (the question: does
    the map depend on the labels?)."""
    from gcam_desktop.explain.engine import explain

    out = {}
    for m in methods:
        mine = originals[m]
        theirs = explain(shuffled.model, x.to(next(shuffled.model.parameters()).device), m, layer=layer,
                         targets=int(mine.classes[0, 0]), top_k=1, **options.get(m, {}))
        out[m] = similarity(mine.maps[0, 0], theirs.maps[0, 0])
    return out


def _method_summary(method: str, runs: Sequence[MethodSanity], classes: Sequence, data: Sequence,
                    independent: bool) -> dict:
    stages = [ORIGINAL] + [s.stage for s in runs[0].cascade]
    out = {"stages": stages, "cascade": _curve(runs, "cascade"), "verdict": _verdict(runs),
           "class_sensitivity": _class_summary(classes)}
    if independent:
        out["independent"] = _curve(runs, "independent")
    if data:
        out["data_randomisation"] = _data_summary(data)
    return out


def _curve(runs: Sequence[MethodSanity], kind: str) -> dict:
    """Per measure, the mean and spread over the images at each step (the original counts 1)."""
    steps = len(getattr(runs[0], kind))
    curve = {}
    for measure in MEASURES:
        at = [spread([1.0] * len(runs))] if kind == "cascade" else []
        at += [spread([getattr(getattr(r, kind)[k].input_res, measure) for r in runs]) for k in range(steps)]
        curve[measure] = at
    curve["spearman_layer_res"] = [spread([getattr(r, kind)[k].layer_res.spearman for r in runs])
                                   for k in range(steps)]
    return curve


def _verdict(runs: Sequence[MethodSanity]) -> dict:
    """ADR 0018's rule over several images: the mean Spearman after the cascade reaches layer4
    below the threshold passes; without a layer4 stage (the small CNN) there is no verdict."""
    if not any(s.stage == PASS_STAGE for s in runs[0].cascade):
        return {"result": "no verdict", "why": f"the model has no {PASS_STAGE} stage", "after": None,
                "images_passed": None}
    after = spread([r.after().spearman for r in runs])
    passed = passes(after["mean"])
    return {"result": "passes" if passed else "fails", "after": after,
            "images_passed": sum(r.passed for r in runs), "why": None}


def _class_summary(classes: Sequence) -> dict:
    rho = spread([c.input_res.spearman for c in classes])
    ok = explains_class(rho["mean"])
    return {"spearman": rho, "ssim": spread([c.input_res.ssim for c in classes]),
            "result": "passes" if ok else "fails", "images_passed": sum(c.explains_the_class for c in classes)}


def _data_summary(data: Sequence[Mapping]) -> dict:
    out = {measure: spread([getattr(d, measure) for d in data]) for measure in MEASURES}
    ok = passes(out["spearman"]["mean"])
    out["result"] = "passes" if ok else "fails"
    return out
