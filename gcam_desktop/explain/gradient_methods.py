"""The gradient family, at the input's resolution: saliency, guided backpropagation, SmoothGrad
and Integrated Gradients. Each gives a raw per-pixel map per target (N x K x H x W); the
engine normalises it. The parameters are frozen by the engine, so the backward to the input
computes no parameter gradient.

Colour channels are reduced as the papers visualise them: the largest |gradient| over the
three channels (Simonyan et al.) for saliency, guided backprop and SmoothGrad; the signed sum
over channels for Integrated Gradients, whose attributions add up (completeness).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .model_state import forward_logits, guided_relus
from .targets import resolve_targets


@dataclass
class GradientResult:
    raw: Tensor  # N x K x H x W
    logits: Tensor  # N x num_classes, of the unperturbed images
    classes: Tensor  # N x K
    signed: bool = False


def backward_each(logits: Tensor, x: Tensor, classes: Tensor) -> Tensor:
    """d score / d x for each of the K targets of each row: rows x K x 3 x H x W (float32).
    K backwards share one forward; rows do not interact (eval mode), so one summed score per
    target gives every row its own gradient."""
    k_count = classes.shape[1]
    out = []
    for k in range(k_count):
        score = logits.gather(1, classes[:, k:k + 1]).sum()
        grad = None
        if score.requires_grad:
            (grad,) = torch.autograd.grad(score, x, retain_graph=k < k_count - 1, allow_unused=True)
        out.append(torch.zeros_like(x, dtype=torch.float32) if grad is None else grad.float())
    return torch.stack(out, 1)


def _max_abs_over_colour(grads: Tensor) -> Tensor:
    return grads.abs().amax(2)


class GradientMethod:
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    def run(self, model: nn.Module, x: Tensor, targets: Any, top_k: int, options: dict) -> GradientResult:
        raise NotImplementedError


class Saliency(GradientMethod):
    """Simonyan et al. 2014: max over colour channels of |d y_c / d x|."""

    name = "saliency"
    guided: ClassVar[bool] = False

    def run(self, model, x, targets, top_k, options):
        xr = x.detach().requires_grad_(True)
        with guided_relus() if self.guided else nullcontext(), torch.enable_grad():
            logits = forward_logits(model, xr)
        classes = resolve_targets(targets, top_k, logits)
        grads = backward_each(logits, xr, classes)
        return GradientResult(_max_abs_over_colour(grads), logits.detach(), classes)


class GuidedBackprop(Saliency):
    """Springenberg et al. 2015: the gradient with every ReLU passing only positive gradients
    (see model_state.guided_relus: thread-local, no module swapped)."""

    name = "guided_backprop"
    guided = True


def _rows(n: int, per_image: int, batch_size: int, device) -> list[Tensor]:
    """Image index of each of n * per_image rows, cut into batches."""
    index = torch.arange(n, device=device).repeat_interleave(per_image)
    return list(index.split(max(1, int(batch_size))))


def _clean_forward(model, x, targets, top_k) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        logits = forward_logits(model, x)
    return logits, resolve_targets(targets, top_k, logits)


class SmoothGrad(GradientMethod):
    """Smilkov et al. 2017: the gradient averaged over `samples` noisy copies of the image,
    noise sigma = `noise` x (max - min) of the image. Seeded (`seed`), so the same request
    gives the same map."""

    name = "smoothgrad"
    options = {"samples": 25, "noise": 0.15, "batch_size": 16, "seed": 0}

    def run(self, model, x, targets, top_k, options):
        samples = int(options["samples"])
        noise = float(options["noise"])
        if samples < 1 or noise < 0:
            raise ValueError(f"smoothgrad needs samples >= 1 and noise >= 0, not {samples} and {noise}")
        logits, classes = _clean_forward(model, x, targets, top_k)
        n = x.shape[0]
        sigma = noise * (x.flatten(1).amax(1) - x.flatten(1).amin(1))
        gen = torch.Generator().manual_seed(int(options["seed"]))  # CPU: same noise on any device
        acc = torch.zeros(n, classes.shape[1], *x.shape[1:], device=x.device)
        for rows in _rows(n, samples, options["batch_size"], x.device):
            eps = torch.randn((len(rows), *x.shape[1:]), generator=gen).to(x.device, x.dtype)
            noisy = (x[rows] + eps * sigma[rows].view(-1, 1, 1, 1)).requires_grad_(True)
            with torch.enable_grad():
                out = forward_logits(model, noisy)
            acc.index_add_(0, rows, backward_each(out, noisy, classes[rows]))
        return GradientResult(_max_abs_over_colour(acc / samples), logits, classes)


class IntegratedGradients(GradientMethod):
    """Sundararajan et al. 2017: (x - x') times the gradient averaged along the straight path
    from the baseline x' to x (midpoint rule, `steps` points). `baseline`: None or "zeros" (0 in
    the normalised input: the data set's mean colour), a number, or a tensor broadcastable to
    the images. The raw map is signed and sums to score(x) - score(x') up to the rule's error."""

    name = "integrated_gradients"
    options = {"steps": 32, "baseline": None, "batch_size": 16}

    def run(self, model, x, targets, top_k, options):
        steps = int(options["steps"])
        if steps < 1:
            raise ValueError(f"integrated_gradients needs steps >= 1, not {steps}")
        base = self.baseline(options["baseline"], x)
        logits, classes = _clean_forward(model, x, targets, top_k)
        n = x.shape[0]
        alphas = (torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps
        alpha_of_row = alphas.repeat(n)
        acc = torch.zeros(n, classes.shape[1], *x.shape[1:], device=x.device)
        start = 0
        for rows in _rows(n, steps, options["batch_size"], x.device):
            a = alpha_of_row[start:start + len(rows)].view(-1, 1, 1, 1)
            start += len(rows)
            point = (base[rows] + a * (x[rows] - base[rows])).requires_grad_(True)
            with torch.enable_grad():
                out = forward_logits(model, point)
            acc.index_add_(0, rows, backward_each(out, point, classes[rows]))
        attributions = (x - base).float().unsqueeze(1) * acc / steps  # N x K x 3 x H x W
        return GradientResult(attributions.sum(2), logits, classes, signed=True)

    @staticmethod
    def baseline(spec: Any, x: Tensor) -> Tensor:
        if spec is None or (isinstance(spec, str) and spec == "zeros"):
            return torch.zeros_like(x)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return torch.full_like(x, float(spec))
        if isinstance(spec, Tensor):
            try:
                return spec.to(x.device, x.dtype).expand_as(x).contiguous()
            except RuntimeError as exc:
                raise ValueError(f"baseline of shape {tuple(spec.shape)} does not fit images of shape "
                                 f"{tuple(x.shape)}") from exc
        raise ValueError(f"baseline must be None, 'zeros', a number or a tensor, not {spec!r}")


GRADIENT_IMPLS: dict[str, GradientMethod] = {
    m.name: m for m in (Saliency(), GuidedBackprop(), SmoothGrad(), IntegratedGradients())
}
