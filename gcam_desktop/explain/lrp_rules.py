"""The LRP rules as autograd functions: each layer's backward *is* its rule (docs/adr/0034).

The gradient that flows backward is the relevance, as in Zennit. The forward is the layer's
own. The backward maps the relevance at the output to the relevance at the input, using what
the forward saved. Nothing is recomputed that the forward already has: epsilon is one
transposed convolution, z+ one forward with the positive weights plus one transposed
convolution. The arithmetic is Zennit's (`zennit.rules`) and so is the stabiliser; the tests
compare the maps with Zennit's own.
"""

from __future__ import annotations

import contextvars

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.grad import conv2d_input

STABILIZER = 1e-6  # Zennit's default for every rule but epsilon's own epsilon


def stabilize(z: Tensor, eps: float) -> Tensor:
    """z + eps * sign(z), with sign(0) = +1 (zennit.core.Stabilizer), in two passes over z
    instead of Zennit's six. (-0.0 gets -eps here; the relevance there is 0 either way.)"""
    return torch.copysign(z.new_full((), eps), z).add_(z)


def divide(relevance: Tensor, z: Tensor, eps: float) -> Tensor:
    """relevance / stabilize(z, eps), into the stabilised copy (no third buffer)."""
    den = stabilize(z, eps)
    return torch.div(relevance, den, out=den)


def divide_nonneg(relevance: Tensor, z: Tensor, eps: float) -> Tensor:
    """relevance / stabilize(z, eps) for z >= 0 everywhere (z+ after a ReLU, counts), where the
    stabiliser is + eps; z is a temporary and is overwritten."""
    z.add_(eps)
    return torch.div(relevance, z, out=z)


class RuleConv(nn.Module):
    """A convolution with its BatchNorm merged in (`weight`, `bias`), whose backward applies
    the rule `rule(self)` picks: "epsilon", "zplus" or "flat". `nonneg_input` says its input
    comes from a ReLU, so z+ needs no pass for negative inputs."""

    def __init__(self, conv: nn.Conv2d, weight: Tensor, bias: Tensor, first: bool) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("LRP's convolution rules need numeric zero padding")
        self.weight, self.bias = weight, bias
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups
        self.first = first
        # A 1 x 1 convolution's transpose is a matrix product: torch's batched matmul runs it
        # twice as fast as the convolution's input gradient on the CPU (bench/explain.py).
        self.pointwise = (tuple(weight.shape[2:]) == (1, 1) and tuple(self.padding) == (0, 0)
                          and tuple(self.dilation) == (1, 1) and self.groups == 1)
        self.nonneg_input = not first
        self._positive: tuple[Tensor, Tensor] | None = None
        self._negative: Tensor | None = None

    def conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        # Always torch's convolution, as in the model and in Zennit: z's rounding is the same,
        # and the epsilon rule divides by z, where a last-bit difference grows.
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def conv_positive(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """A convolution whose terms are all >= 0 (z+): no cancellation, so a different rounding
        cannot grow, and a 1 x 1 one can run as a matrix product (faster on the CPU)."""
        if not self.pointwise:
            return self.conv(x, weight, bias)
        if self.stride != (1, 1):
            x = x[..., ::self.stride[0], ::self.stride[1]]
        n, c, h, w = x.shape
        z = torch.matmul(weight.view(weight.shape[0], c), x.reshape(n, c, h * w))
        if bias is not None:
            z += bias.view(-1, 1)
        return z.view(n, -1, h, w)

    def conv_t(self, shape, weight: Tensor, s: Tensor) -> Tensor:
        """W^T s: the convolution's input gradient."""
        if not self.pointwise:
            return conv2d_input(shape, weight, s, self.stride, self.padding, self.dilation, self.groups)
        n, c_out, h, w = s.shape
        s2 = s.reshape(n, c_out, h * w)
        if h * w < 64:  # few pixels (layer4 at 224, layer3-4 at 64): BLAS prefers them as rows
            g = torch.matmul(s2.transpose(1, 2), weight.view(c_out, -1)).transpose(1, 2).view(n, -1, h, w)
        else:
            g = torch.bmm(weight.view(c_out, -1).t().expand(n, -1, -1), s2).view(n, -1, h, w)
        if self.stride == (1, 1):
            return g
        full = g.new_zeros(shape)
        full[..., ::self.stride[0], ::self.stride[1]] = g
        return full

    def positive(self) -> tuple[Tensor, Tensor]:
        # Cached with the merged weights: the same tensors every call (a benign race at worst).
        if self._positive is None:
            self._positive = (self.weight.clamp(min=0), self.bias.clamp(min=0))
        return self._positive

    def negative(self) -> Tensor:
        if self._negative is None:
            self._negative = self.weight.clamp(max=0)
        return self._negative

    def forward(self, x: Tensor) -> Tensor:
        rule, eps = current_rules().for_conv(self)
        return _ConvRule.apply(x, self, rule, eps)


class _ConvRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, layer: RuleConv, rule: str, eps: float) -> Tensor:
        z = layer.conv(x, layer.weight, layer.bias)
        ctx.layer, ctx.rule, ctx.eps = layer, rule, eps
        ctx.save_for_backward(x, z if rule == "epsilon" else None)
        return z

    @staticmethod
    def backward(ctx, relevance: Tensor):
        x, z = ctx.saved_tensors
        layer, rule = ctx.layer, ctx.rule
        if rule == "epsilon":  # R_in = x * W^T (R / (z + eps)), z from the forward
            return layer.conv_t(x.shape, layer.weight, divide(relevance, z, ctx.eps)).mul_(x), None, None, None
        if rule == "flat":  # every weight 1, no bias, every input 1: spread over the receptive field
            ones = layer.weight.new_ones((1, *layer.weight.shape[1:]))
            count = layer.conv(torch.ones_like(x[:1]), ones, None)  # the same for every output channel
            s = (relevance / count.add_(STABILIZER)).sum(1, keepdim=True)  # count > 0: the stabiliser is + eps
            return layer.conv_t(x.shape, ones, s), None, None, None
        w_pos, b_pos = layer.positive()  # z+ (alpha1-beta0)
        if layer.nonneg_input:  # after a ReLU: the negative inputs' pass is exactly zero
            s = divide_nonneg(relevance, layer.conv_positive(x, w_pos, b_pos), STABILIZER)
            return layer.conv_t(x.shape, w_pos, s).mul_(x), None, None, None
        x_pos, x_neg, w_neg = x.clamp(min=0), x.clamp(max=0), layer.negative()
        s = divide(relevance, layer.conv_positive(x_pos, w_pos, b_pos) + layer.conv_positive(x_neg, w_neg, None),
                   STABILIZER)
        relevance = layer.conv_t(x.shape, w_pos, s).mul_(x_pos).addcmul_(x_neg, layer.conv_t(x.shape, w_neg, s))
        return relevance, None, None, None


class RuleLinear(nn.Module):
    """A dense layer with the epsilon rule (every composite's choice for dense layers)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = linear.weight.detach()
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        return _LinearEpsilon.apply(x, self.weight, self.bias, current_rules().epsilon)


class _LinearEpsilon(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> Tensor:
        z = F.linear(x, weight, bias)
        ctx.eps = eps
        ctx.save_for_backward(x, weight, z)
        return z

    @staticmethod
    def backward(ctx, relevance: Tensor):
        x, weight, z = ctx.saved_tensors
        return (divide(relevance, z, ctx.eps) @ weight).mul_(x), None, None, None


class NormSum(torch.autograd.Function):
    """a + b; the relevance is shared in proportion to what each adds (Zennit's Norm rule on
    its `Sum`): the residual connection."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        y = a + b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, relevance: Tensor):
        a, b, y = ctx.saved_tensors
        s = divide(relevance, y, STABILIZER)
        return a * s, s.mul_(b)


class NormMeanPool(nn.Module):
    """Global average pooling with the Norm rule (each cell gets its share of the mean)."""

    def forward(self, x: Tensor) -> Tensor:
        return _NormMean.apply(x)


class _NormMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = x.mean((-2, -1), keepdim=True)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, relevance: Tensor):
        x, y = ctx.saved_tensors
        return x * divide(relevance, y, STABILIZER).div_(x.shape[-2] * x.shape[-1])


class PassReLU(nn.Module):
    """ReLU whose backward passes the relevance unchanged (Zennit's Pass rule for activations):
    where the output is 0 every rule above multiplies by it, so there is nothing to mask, and
    autograd's mask pass over each activation is saved."""

    def forward(self, x: Tensor) -> Tensor:
        return _Pass.apply(x)


class _Pass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return torch.relu(x)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        return relevance


class ConstantGate(torch.autograd.Function):
    """branch * gate forward; backward hands the relevance arriving at the product to the
    branch unchanged and none to the gate: the gate is a constant scaling of its branch."""

    @staticmethod
    def forward(ctx, branch: Tensor, gate: Tensor) -> Tensor:
        return branch * gate

    @staticmethod
    def backward(ctx, relevance: Tensor):
        return relevance, None


# --- which rule each layer applies, per call -------------------------------------------------

class RuleSet:
    """A composite: the rule of the first convolution, of the others, and epsilon."""

    FIRST_AND_REST = {"epsilon_plus_flat": ("flat", "zplus"), "epsilon": ("epsilon", "epsilon"),
                      "alpha1_beta0": ("zplus", "zplus")}

    def __init__(self, composite: str, epsilon: float) -> None:
        self.first, self.rest = self.FIRST_AND_REST[composite]
        self.epsilon = epsilon

    def for_conv(self, layer: RuleConv) -> tuple[str, float]:
        rule = self.first if layer.first else self.rest
        return rule, (self.epsilon if rule == "epsilon" else STABILIZER)


_RULES: contextvars.ContextVar[RuleSet] = contextvars.ContextVar("gcam_lrp_rules")


def current_rules() -> RuleSet:
    try:
        return _RULES.get()
    except LookupError:
        raise RuntimeError("an LRP network runs inside rule_context() only") from None


class rule_context:
    """`with rule_context(RuleSet(...)):` the composite for this thread's forward: the shared,
    cached network holds no per-call state."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def __enter__(self) -> RuleSet:
        self._token = _RULES.set(self.rules)
        return self.rules

    def __exit__(self, *exc) -> None:
        _RULES.reset(self._token)
