"""Model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"). Qt-free.

Does a map depend on what the model learned? Re-initialise the weights stage by stage from the
output down (the cascade: fc, layer4, layer3, layer2, layer1, stem) or one stage at a time
(independent), explain the same image for the same class after each step, and measure how
similar the new map still is to the original. A method whose map stays similar once the top
of the network is random explains the input more than the model (Guided Backprop is the
paper's example); Grad-CAM and plain gradients change.

Randomised models are deep copies: the loaded model is never touched (a test holds the
parameters bit-identical). Every step is seeded, and each module gets its own default
initialisation (its `reset_parameters`, which for BatchNorm also resets the running
statistics), as the paper does. The pass rule and its threshold are docs/adr/0018.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from scipy.stats import pearsonr, rankdata
from skimage.metrics import structural_similarity
from torch import Tensor, nn

from . import sanity_resume
from .metrics import pixel_ranks
from .model_state import module_shell
from .names import METHODS, TOP_FRACTION

# A method passes when the rank correlation of its map with the original falls below this once
# the cascade has randomised the model's top down to (and including) PASS_STAGE: at that point
# nothing the model learned about classes is left above the explained layer (docs/adr/0018).
PASS_STAGE = "layer4"
PASS_THRESHOLD = 0.5
# Class sensitivity ("random logit" test): maps for the predicted and the least likely class
# that still rank the pixels this alike are not explaining the class (docs/adr/0018).
CLASS_THRESHOLD = 0.8
MEASURES = ("spearman", "ssim", "top_iou")


def passes(spearman_after: float | None) -> bool:
    """ADR 0018's randomisation rule, for one image's correlation or a mean over images."""
    return spearman_after is not None and spearman_after < PASS_THRESHOLD


def explains_class(spearman_between: float | None) -> bool:
    """The class-sensitivity rule: the two classes' maps rank the pixels differently enough."""
    return spearman_between is not None and spearman_between < CLASS_THRESHOLD


def parameter_stages(model: nn.Module) -> list[tuple[str, list[str]]]:
    """The model's parameter groups from the output down, as (stage name, child module names).

    ResNets: fc, layer4, layer3, layer2, layer1, stem (conv1 and bn1: the children before the
    first stage). Other models: each top-level child with parameters, last first."""
    children = [name for name, module in model.named_children()
                if any(True for _ in module.parameters(recurse=True))]
    if not children:
        raise ValueError("the model has no parameters to randomise")
    first_layer = next((i for i, name in enumerate(children) if name.startswith("layer")), None)
    if first_layer is None or first_layer == 0:
        return [(name, [name]) for name in reversed(children)]
    stem, rest = children[:first_layer], children[first_layer:]
    return [(name, [name]) for name in reversed(rest)] + [("stem", stem)]


def randomise(model: nn.Module, children: Iterable[str], seed: int) -> None:
    """Give every module under the named children its default initialisation, seeded, in place."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        for name in children:
            for module in model.get_submodule(name).modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
    finally:
        torch.random.set_rng_state(generator_state)  # the caller's random stream is left alone


@dataclass
class Similarity:
    """How alike a randomised model's map is to the original's: one value per measure."""

    spearman: float
    ssim: float
    top_iou: float

    def as_dict(self) -> dict[str, float]:
        return {"spearman": self.spearman, "ssim": self.ssim, "top_iou": self.top_iou}


def similarity(original: Tensor, other: Tensor) -> Similarity:
    """Spearman rank correlation and SSIM of the absolute maps, and the top-20 % region IoU.

    Maps are H x W (any scale); both are compared as absolute values scaled to [0, 1]. A
    constant map has no ranks: its correlation is 0 (it says nothing about the original)."""
    return compare(Reference(original), other)


class Reference:
    """A map that others are compared with (the original, at every stage of the cascade): its
    [0, 1] scaling, its pixel ranks and its top region, computed once instead of at each step."""

    def __init__(self, original: Tensor) -> None:
        self.unit = _unit(original.detach().abs().float().cpu().numpy())
        self.ranks = rankdata(self.unit.ravel()) if np.ptp(self.unit) > 0 else None
        self.top = _top_region(self.unit)


def compare(ref: Reference, other: Tensor) -> Similarity:
    """`similarity(original, other)` with the original prepared as `ref`."""
    a, b = ref.unit, _unit(other.detach().abs().float().cpu().numpy())
    if a.shape != b.shape:
        raise ValueError(f"maps of {a.shape} and {b.shape}: compare maps of one size")
    if ref.ranks is None or np.ptp(b) == 0:
        rho = 0.0
    else:  # Spearman's rho: Pearson's r of the average ranks (what scipy.stats.spearmanr computes)
        rho = float(pearsonr(ref.ranks, rankdata(b.ravel())).statistic)
    side = min(a.shape)
    window = min(7, side if side % 2 else side - 1)
    ssim = float(structural_similarity(a, b, data_range=1.0, win_size=window)) if window >= 3 else float("nan")
    top_b = _top_region(b)
    iou = float((ref.top & top_b).sum() / (ref.top | top_b).sum())
    return Similarity(rho, ssim, iou)


def _top_region(unit: np.ndarray) -> np.ndarray:
    """The top TOP_FRACTION of the pixels (ties broken as metrics.top_region_iou breaks them)."""
    k = max(1, int(round(TOP_FRACTION * unit.size)))
    return (pixel_ranks(torch.from_numpy(unit)[None]) < k)[0].numpy()


def _unit(m: np.ndarray) -> np.ndarray:
    span = float(m.max() - m.min()) if m.size else 0.0
    return ((m - m.min()) / span).astype(np.float64) if span > 0 else np.zeros_like(m, np.float64)


@dataclass
class StepResult:
    """One randomisation step for one method: which stages are random, and the similarities."""

    stage: str
    randomised: list[str]
    input_res: Similarity  # the map at the input's resolution (what the app shows)
    layer_res: Similarity  # the raw map at its own resolution (the layer's, for CAM methods)
    map: np.ndarray        # the normalised map at the input's resolution, for the strip of maps


@dataclass
class MethodSanity:
    """A method's randomisation curves for one image and one model."""

    method: str
    target: int
    original: np.ndarray
    cascade: list[StepResult] = field(default_factory=list)
    independent: list[StepResult] = field(default_factory=list)

    def after(self, stage: str = PASS_STAGE) -> Similarity:
        for step in self.cascade:
            if step.stage == stage:
                return step.input_res
        raise KeyError(f"the cascade has no stage {stage!r}: {[s.stage for s in self.cascade]}")

    @property
    def passed(self) -> bool:
        return passes(self.after().spearman)


Explain = Callable[..., Any]


def parameter_randomisation(model: nn.Module, image: Tensor, methods: Sequence[str] = METHODS, *,
                            layer: str | None = None, seed: int = 0, independent: bool = True,
                            options: dict[str, dict] | None = None,
                            explain_fn: Explain | None = None,
                            originals: dict[str, Any] | None = None,
                            progress: Callable[[int, int], None] | None = None,
                            cancelled: Callable[[], bool] | None = None) -> list[MethodSanity]:
    """The cascade (and the independent randomisation) for one image (1 x 3 x H x W, normalised).

    Every method explains the class the *original* model predicts, at every step. `options`
    maps a method to its explain() options. `originals` (method -> Explanation of this image
    with the loaded model, its first map for the predicted class) saves those explanations where
    the caller has them already (the app's Compare tab does). Each stage gets the same random weights wherever it
    is random (seed + its index), so an independent step shows exactly that stage's part of the
    cascade. Returns one MethodSanity per method, in the order given."""
    from .engine import explain as engine_explain

    explain = explain_fn or engine_explain
    options = options or {}
    methods = list(methods)
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"one image at a time (1 x 3 x H x W), not {tuple(image.shape)}")
    if not methods:
        raise ValueError("no methods to check")
    stages = parameter_stages(model)
    originals = dict(originals or {})
    target = int(next(iter(originals.values())).classes[0, 0]) if originals else None
    for m in methods:  # the first call finds the predicted class; the rest explain that class
        if m not in originals:
            originals[m] = explain(model, image, m, layer=layer, targets=target, **options.get(m, {}))
        target = int(originals[m].classes[0, 0]) if target is None else target
        if int(originals[m].classes[0, 0]) != target:
            raise ValueError(f"the original {m} map explains class {int(originals[m].classes[0, 0])}, "
                             f"not the predicted class {target}")
    results = {m: MethodSanity(m, target, originals[m].maps[0, 0].cpu().numpy()) for m in methods}
    total = len(methods) * len(stages) * (2 if independent else 1)
    step = _Stepper(explain, image, layer, target, options, originals, results, total, progress, cancelled)
    if any(_resumable(m, options) for m in methods):  # the CAM methods skip the untouched stages
        step.resume = sanity_resume.Resume(model, image, layer)

    cascade = sharing_copy(model)  # randomised further at each step: one copy for the cascade
    for i, (name, children) in enumerate(stages):
        own_children(cascade, model, children)
        randomise(cascade, children, seed + i)
        step("cascade", cascade, name, [n for n, _ in stages[:i + 1]])
    del cascade
    if independent:
        for i, (name, children) in enumerate(stages):
            alone = sharing_copy(model)
            own_children(alone, model, children)
            randomise(alone, children, seed + i)
            step("independent", alone, name, [name])
            del alone
    return [results[m] for m in methods]


def sharing_copy(model: nn.Module) -> nn.Module:
    """The model's top level copied, its children still the model's own (hooks left behind).
    `own_children` copies a child just before it is randomised, so the stages a step leaves
    alone stay shared: no copy of their weights, and what is kept per layer for them (LRP's
    merged layers) is found again. Nothing shared is ever written to."""
    return module_shell(model)


def own_children(shared: nn.Module, model: nn.Module, children: Iterable[str]) -> None:
    """The named top-level children of `shared` (a sharing_copy of `model`) become copies."""
    for name in children:
        if shared.get_submodule(name) is model.get_submodule(name):
            setattr(shared, name, copy.deepcopy(model.get_submodule(name)))


def _resumable(method: str, options: dict) -> bool:
    return method in sanity_resume.RESUMABLE and not options.get(method)


class _Stepper:
    """Explains every method with one randomised model and records the step."""

    def __init__(self, explain, image, layer, target, options, originals, results, total, progress, cancelled):
        self.explain, self.image, self.layer, self.target = explain, image, layer, target
        self.options, self.originals, self.results = options, originals, results
        self.total, self.done, self.progress, self.cancelled = total, 0, progress, cancelled
        self.refs: dict[str, tuple[Reference, Reference]] = {}
        self.resume: sanity_resume.Resume | None = None

    def __call__(self, kind: str, model: nn.Module, stage: str, randomised: list[str]) -> None:
        for m, sanity in self.results.items():
            if self.cancelled is not None and self.cancelled():
                raise InterruptedError("sanity check cancelled")
            if m not in self.refs:  # the original's maps, prepared once per method
                first = self.originals[m]
                self.refs[m] = (Reference(first.maps[0, 0]), Reference(first.raw[0, 0]))
            maps_ref, raw_ref = self.refs[m]
            shortcut = self.resume is not None and _resumable(m, self.options)
            with self.resume.applied(model, randomised) if shortcut else nullcontext():
                e = self.explain(model, self.image, m, layer=self.layer, targets=self.target,
                                 **self.options.get(m, {}))
            getattr(sanity, kind).append(StepResult(
                stage, randomised, compare(maps_ref, e.maps[0, 0]), compare(raw_ref, e.raw[0, 0]),
                e.maps[0, 0].cpu().numpy()))
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)


@dataclass
class ClassSensitivity:
    """One method's map for the predicted class against its map for the least likely class."""

    method: str
    predicted: int
    least_likely: int
    input_res: Similarity
    layer_res: Similarity

    @property
    def explains_the_class(self) -> bool:
        return explains_class(self.input_res.spearman)


def class_sensitivity(model: nn.Module, image: Tensor, methods: Sequence[str] = METHODS, *,
                      layer: str | None = None, options: dict[str, dict] | None = None,
                      explain_fn: Explain | None = None,
                      keep: dict[str, Any] | None = None) -> list[ClassSensitivity]:
    """The "random logit" test for one image (1 x 3 x H x W): both classes in one explain() call
    per method, so they share its forward. `keep` (a dict) receives each method's Explanation:
    its first map is the original map for the predicted class, which the cascade
    (`parameter_randomisation(..., originals=keep)`) can take instead of explaining again."""
    from .engine import explain as engine_explain

    explain = explain_fn or engine_explain
    options = options or {}
    methods = list(methods)
    if not methods:
        raise ValueError("no methods to check")
    from .model_state import explaining, forward_logits, model_device

    with explaining(model), torch.no_grad():  # one forward for the two classes, not an explanation
        logits = forward_logits(model, image.to(model_device(model, image.device)[0]))
    probs = torch.softmax(logits.float(), 1)[0]
    predicted, least = int(probs.argmax()), int(probs.argmin())
    out = []
    for m in methods:
        e = explain(model, image, m, layer=layer, targets=[[predicted, least]], **options.get(m, {}))
        if keep is not None:
            keep[m] = e
        out.append(ClassSensitivity(m, predicted, least, similarity(e.maps[0, 0], e.maps[0, 1]),
                                    similarity(e.raw[0, 0], e.raw[0, 1])))
    return out
