"""DeepLIFT with the rescale rule (Shrikumar et al. 2017), at the input's resolution.

Each image and its reference run through the model as one batch [x; x'], so every layer sees
both. Under `deeplift_rules()` (a thread-local torch function mode, like guided backprop's:
no module is swapped or hooked) the backward then carries DeepLIFT's multipliers instead of
gradients:
- ReLU and sigmoid (the SE gate's squash): the rescale rule, m = Δy / Δu, or the local
  derivative where |Δu| < 1e-10 (Captum's threshold);
- max pooling (fixed window or adaptive): Captum's rule, Δ of the pooled output split between
  the input's and the reference's arg-max, divided by Δu, but *added* over windows sharing an
  arg-max (Captum writes through max_unpool, which keeps one; ResNet's 3 x 3 / 2 stem pool has
  overlapping windows, so Captum loses part of Δ there, docs/adr/0029);
- products of two signals (the SE gate times its branch, fused in `addcmul`): the product
  rule of the DeepLIFT paper, m_a = (b + b') / 2, m_b = (a + a') / 2, which keeps
  Δ(ab) = m_a Δa + m_b Δb exactly; the gate is a signal here, not a constant.
Everything else in our networks (convolutions, BatchNorm in eval mode, sums, pooling by mean,
the linear head) is affine, where the multiplier is the gradient. The attributions,
(x - x') * multiplier summed over colour channels, add up to score(x) - score(x')
(summation-to-delta) up to float rounding.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .gradient_methods import GradientMethod, GradientResult, backward_each
from .model_state import forward_logits
from .progress import report
from .references import reference_images
from .targets import resolve_targets

EPS = 1e-10  # |Δu| below this takes the local derivative, as Captum's DeepLift does


def _halves(t: Tensor) -> tuple[Tensor, Tensor]:
    n = t.shape[0] // 2
    return t[:n], t[n:]


def _both(half: Tensor) -> Tensor:
    return torch.cat([half, half])


class _Rescale(torch.autograd.Function):
    """y = f(u) elementwise; backward multiplies by Δy / Δu (the same for both halves)."""

    @staticmethod
    def forward(ctx, u: Tensor, kind: str) -> Tensor:
        y = u.clamp_min(0) if kind == "relu" else torch.sigmoid(u)
        with torch.no_grad():
            (u_x, u_r), (y_x, y_r) = _halves(u), _halves(y)
            du, dy = u_x - u_r, y_x - y_r
            local = (u > 0).to(u.dtype) if kind == "relu" else y * (1 - y)
            rescale = _both(dy / torch.where(du.abs() < EPS, torch.ones_like(du), du))
            ctx.multiplier = torch.where(_both(du.abs()) < EPS, local, rescale)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.multiplier, None


class _MaxPool(torch.autograd.Function):
    """2-d max pooling (`args` as F.max_pool2d takes them, or an adaptive output size)."""

    @staticmethod
    def forward(ctx, u: Tensor, adaptive: bool, args: tuple) -> Tensor:
        if adaptive:
            y, idx = F.adaptive_max_pool2d(u, args[0], return_indices=True)
        else:
            y, idx = F.max_pool2d(u, *args, return_indices=True)
        with torch.no_grad():
            y_x, y_r = _halves(y)
            top = torch.maximum(y_x, y_r)
            ctx.deltas = (top - y_r, y_x - top)  # at the input's and at the reference's arg-max
            ctx.save_for_backward(idx)
            u_x, u_r = _halves(u)
            ctx.du = u_x - u_r
            ctx.in_shape = u.shape
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        (idx,) = ctx.saved_tensors
        n, c, h, w = ctx.in_shape
        flat = lambda t: t.flatten(2)  # noqa: E731 - N x C x (h*w), the indices' layout
        idx_x, idx_r = _halves(idx)
        g_x, _ = _halves(grad)  # only the images' half carries the target's gradient
        moved = torch.zeros(n // 2, c, h * w, dtype=grad.dtype, device=grad.device)
        moved.scatter_add_(2, flat(idx_x), flat(g_x * ctx.deltas[0]))
        moved.scatter_add_(2, flat(idx_r), flat(g_x * ctx.deltas[1]))
        plain = torch.zeros(n, c, h * w, dtype=grad.dtype, device=grad.device)
        plain.scatter_add_(2, flat(idx), flat(grad))  # max pooling's own gradient, summed like its backward
        du = flat(ctx.du)
        rescale = moved / torch.where(du.abs() < EPS, torch.ones_like(du), du)
        out = torch.where(_both(du.abs()) < EPS, plain, _both(rescale))
        return out.view(n, c, h, w), None, None


class _Product(torch.autograd.Function):
    """a * b with broadcasting: multipliers (b + b') / 2 for a and (a + a') / 2 for b."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        with torch.no_grad():
            ctx.mean_a = _both(sum(_halves(a)) / 2)
            ctx.mean_b = _both(sum(_halves(b)) / 2)
        ctx.shapes = (a.shape, b.shape)
        return a * b

    @staticmethod
    def backward(ctx, grad: Tensor):
        ga = _sum_to(grad * ctx.mean_b, ctx.shapes[0])
        gb = _sum_to(grad * ctx.mean_a, ctx.shapes[1])
        return ga, gb


def _sum_to(t: Tensor, shape: torch.Size) -> Tensor:
    """Undo broadcasting: sum `t` down to `shape`."""
    while t.dim() > len(shape):
        t = t.sum(0)
    dims = [d for d, (have, want) in enumerate(zip(t.shape, shape)) if want == 1 and have != 1]
    return t.sum(dims, keepdim=True) if dims else t


_RELU = {F.relu, torch.relu, torch.Tensor.relu, torch.relu_, torch.Tensor.relu_}
_SIGMOID = {torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid}
_MUL = {torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__}


def _needs_rule(*tensors) -> bool:
    return all(isinstance(t, Tensor) for t in tensors) and any(t.requires_grad for t in tensors)


class _DeepLiftMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU and _needs_rule(args[0]):
            x = args[0]
            out = _Rescale.apply(x, "relu")
            inplace = func in (torch.relu_, torch.Tensor.relu_) or kwargs.get("inplace") or (
                len(args) > 1 and args[1] is True)
            if inplace:  # keep the in-place contract for code that relies on it
                x.copy_(out)
                return x
            return out
        if func in _SIGMOID and _needs_rule(args[0]):
            return _Rescale.apply(args[0], "sigmoid")
        if func is F.max_pool2d and _needs_rule(args[0]) and not kwargs.get("return_indices") and (
                len(args) < 7 or not args[6]):
            return _MaxPool.apply(args[0], False, _pool_args(args, kwargs))
        if func is F.adaptive_max_pool2d and _needs_rule(args[0]) and not kwargs.get("return_indices") and (
                len(args) < 3 or not args[2]):
            return _MaxPool.apply(args[0], True, (kwargs.get("output_size", args[1] if len(args) > 1 else None),))
        if func is torch.addcmul and _needs_rule(*args[1:3]) and kwargs.get("value", 1) == 1 and len(args) == 3:
            return args[0] + _Product.apply(args[1], args[2])
        if func in _MUL and len(args) == 2 and isinstance(args[0], Tensor) and isinstance(args[1], Tensor) \
                and args[0].requires_grad and args[1].requires_grad:
            return _Product.apply(args[0], args[1])
        return func(*args, **kwargs)


def _pool_args(args: tuple, kwargs: dict) -> tuple:
    """(kernel_size, stride, padding, dilation, ceil_mode) of an F.max_pool2d call."""
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    defaults = (None, None, 0, 1, False)
    given = dict(zip(names, args[1:]))
    given.update({k: v for k, v in kwargs.items() if k in names})
    out = [given.get(k, d) for k, d in zip(names, defaults)]
    if out[1] is None or out[1] == []:
        out[1] = out[0]  # stride defaults to the kernel
    return tuple(out)


@contextmanager
def deeplift_rules() -> Iterator[None]:
    """DeepLIFT's multipliers for the forwards of this block, whose batches must be [x; x']."""
    with _DeepLiftMode():
        yield


class DeepLift(GradientMethod):
    """Shrikumar et al. 2017, rescale rule. `reference`: "black" (pixel value 0), "blur" (a strong
    blur of the image) or "mean" (the data mean, 0 in normalised space); explain/references.py.
    Signed; the raw map sums to score(x) - score(reference) (summation-to-delta)."""

    name = "deeplift"
    options = {"reference": "black"}

    def run(self, model, x, targets, top_k, options):
        ref = reference_images(options["reference"], model, x, "deeplift reference", ("black", "blur", "mean"))
        n = x.shape[0]
        pair = torch.cat([x, ref]).detach().requires_grad_(True)
        with deeplift_rules(), torch.enable_grad():
            out = forward_logits(model, pair)
        logits = out[:n]
        classes = resolve_targets(targets, top_k, logits.detach())
        # The scores of the images' half only: the reference's rows receive no gradient.
        multipliers = backward_each(logits, pair, classes)[:n]  # N x K x 3 x H x W
        report(2 * n, 2 * n)
        attributions = (x - ref).float().unsqueeze(1) * multipliers
        return GradientResult(attributions.sum(2), logits.detach(), classes, signed=True)


DEEPLIFT_IMPLS = {m.name: m for m in (DeepLift(),)}
