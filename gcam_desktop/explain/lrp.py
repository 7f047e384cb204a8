"""Layer-wise relevance propagation (Bach et al. 2015) through Zennit's rules, composites and
canonizers, at the input's resolution (docs/adr/0028).

Each target's logit is the relevance put in at the top (R = the logit, so the input relevance
sums to about the logit: `conservation`); the map is the input relevance summed over colour
channels, signed. Composites (option `composite`):
  - "epsilon_plus_flat" (default; Zennit's EpsilonPlusFlat, the usual choice for image
    classifiers): flat rule in the first layer, z+ (= alpha1-beta0) in the other convolutions,
    epsilon in the dense layers;
  - "epsilon": the epsilon rule in every convolution and dense layer;
  - "alpha1_beta0": alpha1-beta0 (z+) in every convolution, the first one too; epsilon in
    the dense layers.
Everywhere: ReLUs and merged BatchNorms pass relevance through, average pooling and residual
sums share it in proportion to the contributions (Zennit's Norm rule), max pooling routes it
to the maximum (the gradient).

Canonizers: BatchNorm is merged into the convolution before it; our bottleneck (and
torchvision's, through Zennit's own canonizer) adds its residual through Zennit's `Sum` module.
The SE / s_se gate is a constant scaling of its branch: all of the gated branch's relevance
goes to the branch, none into the squeeze / excitation sub-network (Arras et al. 2017's
"signal-take-all" for multiplicative gates); `ConstantGate` is that rule.

Speed: the rules are Zennit's, but the layers with the z+ and epsilon rules skip autograd's own
gradient (which Zennit computes and discards), z+ runs in one pass where the input is
non-negative, and epsilon reuses the forward's output (docs/adr/0028, bench/explain.py).

The model itself is never changed: everything runs on a shallow working copy per call (its
own module objects and Parameter objects over the same storage; the SE gate modules are the
model's own, so attention="off" / "mean" and gate recording reach them). Canonizers and hooks
act on the copy only, so another thread running the model meanwhile sees nothing of them.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from zennit.canonizers import AttributeCanonizer, SequentialMergeBatchNorm
from zennit.composites import EpsilonPlus, EpsilonPlusFlat, LayerMapComposite, layer_map_base
from zennit.core import Stabilizer
from zennit.layer import Sum
from zennit.rules import ClampMod, Epsilon, ZPlus
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer
from zennit.types import Convolution

from gcam_desktop.models.attention import SEGate
from gcam_desktop.models.resnet import Bottleneck

from . import lrp_network
from .gradient_methods import GradientMethod, GradientResult
from .lrp_rules import ConstantGate, RuleSet, rule_context
from .model_state import forward_logits
from .targets import resolve_targets

COMPOSITES: tuple[str, ...] = tuple(RuleSet.FIRST_AND_REST)  # epsilon_plus_flat, epsilon, alpha1_beta0


def _bottleneck_forward(self: Bottleneck, x: Tensor, stage_gate=None) -> Tensor:
    """Bottleneck.forward for LRP: the same sum, with the residual addition through a Zennit
    `Sum` module (its Norm rule splits the relevance between identity and branch) and the
    gate through `ConstantGate`. The gate is computed from the detached branch, so no
    relevance (nor any hook) reaches the SE sub-network."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.branch(x)
    if self.se is not None:
        out = ConstantGate.apply(out, self.se(out.detach()))
    elif stage_gate is not None:
        out = ConstantGate.apply(out, stage_gate.for_branch(out.detach()))
    return self.relu(self.canonizer_sum(torch.stack([identity, out], dim=-1)))


class BottleneckCanonizer(AttributeCanonizer):
    """Zennit canonizer for gcam_desktop's Bottleneck (plain, SE and s_se)."""

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    @staticmethod
    def _attribute_map(name: str, module: nn.Module):
        if isinstance(module, Bottleneck):
            return {"forward": _bottleneck_forward.__get__(module), "canonizer_sum": Sum()}
        return None

    def copy(self) -> "BottleneckCanonizer":
        return BottleneckCanonizer()


def canonizers() -> list:
    """BatchNorm merged into the preceding convolution; residual sums as Zennit `Sum` modules
    in our bottleneck and in torchvision's ResNet blocks (Zennit's own canonizers)."""
    return [SequentialMergeBatchNorm(), BottleneckCanonizer(), ResNetBottleneckCanonizer(),
            ResNetBasicBlockCanonizer()]


class _Bridge(torch.autograd.Function):
    """The layer's output, joined to its input for the backward only: autograd's own
    gradient through the layer is never computed (the rule's relevance replaces it anyway)."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor) -> Tensor:
        ctx.x_shape = x.shape
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad.new_zeros(()).expand(ctx.x_shape), None


class _CutGraph:
    """For a Zennit rule: the layer runs on its detached input and `_Bridge` joins the output
    to the input, so the backward skips autograd's gradient through the layer (which Zennit
    computes and then discards for the rule's relevance). The rule itself is unchanged."""

    def pre_forward(self, module, input):
        post = super().pre_forward(module, input)
        x = post if isinstance(post, Tensor) else post[0]
        if not x.requires_grad or (not isinstance(post, Tensor) and len(post) != 1):
            self._joined = None
            return post
        self._joined = x
        return x.detach()

    def post_forward(self, module, input, output):
        x, self._joined = getattr(self, "_joined", None), None
        if x is not None and isinstance(output, Tensor):
            output = _Bridge.apply(x, output)
        return super().post_forward(module, input, output)


class _ZPlus(_CutGraph, ZPlus):
    """Zennit's z+ rule, in one pass where the layer's input is non-negative (after a ReLU:
    every convolution of a ResNet but the first). Zennit's second pass (negative inputs times
    negative weights, bias zeroed) is exactly zero there: the same map for half the work."""

    def __init__(self, stabilizer: float = 1e-6, zero_params=None) -> None:
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self._args = (stabilizer, zero_params)
        self._stabilize = Stabilizer.ensure(stabilizer)
        self._positive = ClampMod(min=0.0, zero_params=zero_params)

    def backward(self, module, grad_input, grad_output):
        x = self.stored_tensors["input"][0]
        if bool(x.min() < 0):
            return super().backward(module, grad_input, grad_output)
        x = x.clone().requires_grad_()
        with self._positive(module) as positive, torch.autograd.enable_grad():
            z = positive.forward(x)
        (g,) = torch.autograd.grad(z, x, grad_outputs=grad_output[0] / self._stabilize(z),
                                   create_graph=grad_output[0].requires_grad)
        relevance = x * g
        return tuple(relevance if o.shape == relevance.shape else None for o in grad_input)

    def copy(self) -> "_ZPlus":
        return _ZPlus(*self._args)


class _Epsilon(_CutGraph, Epsilon):
    """Zennit's epsilon rule from the layer's own forward output: R_in = x * W^T (R / (z + eps)),
    with W^T applied as the layer's input gradient (no second forward)."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        super().__init__(epsilon=epsilon)
        self._epsilon = epsilon
        self._stabilize = Stabilizer.ensure(epsilon)

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input
        self.stored_tensors["output"] = output

    def backward(self, module, grad_input, grad_output):
        x = self.stored_tensors["input"][0]
        s = grad_output[0] / self._stabilize(self.stored_tensors["output"])
        if isinstance(module, nn.Linear):
            g = s @ module.weight
        elif isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple) \
                and module.padding_mode == "zeros":
            g = torch.nn.grad.conv2d_input(x.shape, module.weight, s, module.stride, module.padding,
                                           module.dilation, module.groups)
        else:
            return super().backward(module, grad_input, grad_output)
        relevance = x * g
        return tuple(relevance if o.shape == relevance.shape else None for o in grad_input)

    def copy(self) -> "_Epsilon":
        return _Epsilon(self._epsilon)


class _EpsilonComposite(LayerMapComposite):
    """The epsilon rule in every convolution and dense layer (LRP-epsilon throughout)."""

    def __init__(self, epsilon: float = 1e-6, stabilizer: float = 1e-6, canonizers=None) -> None:
        super().__init__(layer_map=layer_map_base(stabilizer) + [
            (Convolution, _Epsilon(epsilon=epsilon)), (nn.Linear, _Epsilon(epsilon=epsilon)),
        ], canonizers=canonizers)


def check_composite(name: str) -> str:
    """`name` if it is one of COMPOSITES; else ValueError naming them."""
    if name not in COMPOSITES:
        raise ValueError(f"lrp composite must be one of {', '.join(COMPOSITES)}, not {name!r}")
    return name


def composite(name: str, epsilon: float = 1e-6):
    """The Zennit composite by our option name, with the canonizers above; the SE gates'
    own layers get no rule (no relevance reaches them)."""
    cls = {"epsilon_plus_flat": EpsilonPlusFlat, "epsilon": _EpsilonComposite,
           "alpha1_beta0": EpsilonPlus}[check_composite(name)]
    # Our faster z+ and epsilon go first in the layer map, before the composite's own (the same rules).
    extra = {} if cls is _EpsilonComposite else {
        "layer_map": [(Convolution, _ZPlus()), (nn.Linear, _Epsilon(epsilon=epsilon))]}
    comp = cls(epsilon=epsilon, canonizers=canonizers(), **extra)
    rules = comp.module_map
    gate_layers: set[int] = set()

    def module_map(ctx, name, module):
        if isinstance(module, SEGate):
            gate_layers.update(id(m) for m in module.modules())
        if id(module) in gate_layers:
            return None
        return rules(ctx, name, module)

    comp.module_map = module_map
    return comp


def working_copy(model: nn.Module) -> nn.Module:
    """The model's module tree copied, with new Parameter / buffer objects over the same
    storage (so a canonizer rebinding `.data` changes the copy only) and the SE gate modules
    shared (the per-call gate scopes are keyed by them; no canonizer or hook touches them)."""
    memo: dict[int, Any] = {}
    for m in model.modules():
        if isinstance(m, SEGate):
            memo[id(m)] = m
            memo.update({id(t): t for t in (*m.parameters(), *m.buffers())})
    for p in model.parameters():
        memo.setdefault(id(p), nn.Parameter(p.detach(), requires_grad=p.requires_grad))
    for b in model.buffers():
        memo.setdefault(id(b), b.detach())
    return copy.deepcopy(model, memo)


class LRP(GradientMethod):
    """Layer-wise relevance propagation; see the module's docstring."""

    name = "lrp"
    options: ClassVar[dict[str, Any]] = {"composite": "epsilon_plus_flat", "epsilon": 1e-6}

    def run(self, model, x, targets, top_k, options):
        eps = options["epsilon"]
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"lrp epsilon must be a number > 0, not {eps!r}")
        name = check_composite(options["composite"])
        if lrp_network.supports(model):  # our ResNet50s: the rules as the layers' own backward
            work, context = lrp_network.network(model), rule_context(RuleSet(name, float(eps)))
        else:  # any other network: Zennit's hooks on a working copy
            work = working_copy(model)
            context = composite(name, float(eps)).context(work)
        xr = x.detach().requires_grad_(True)
        with context, torch.enable_grad():
            logits = forward_logits(work, xr)
            classes = resolve_targets(targets, top_k, logits)
            k_count = classes.shape[1]
            maps = []
            for k in range(k_count):
                # The relevance put in at the top: the explained logit itself.
                top = torch.zeros_like(logits).scatter_(1, classes[:, k:k + 1],
                                                        logits.detach().gather(1, classes[:, k:k + 1]))
                (rel,) = torch.autograd.grad(logits, xr, grad_outputs=top, retain_graph=k < k_count - 1)
                maps.append(rel.float().sum(1))
        return GradientResult(torch.stack(maps, 1), logits.detach(), classes, signed=True)


def conservation(ex) -> Tensor:
    """Per map (N x K): the relevance at the input over the explained logit, from an
    `Explanation` of a signed additive method (lrp; integrated_gradients gives
    (score(x) - score(baseline)) / score(x)). 1 is perfect conservation; relevance absorbed
    by biases (BatchNorm merged into the convolutions gives them some) and the stabilisers
    makes it differ."""
    if not ex.signed:
        raise ValueError(f"conservation needs a signed, additive map; {ex.method} is not")
    total = ex.raw.sum((-2, -1))
    return total / ex.logits.gather(1, ex.classes)


LRP_IMPLS: dict[str, GradientMethod] = {"lrp": LRP()}
