"""LRP's own copy of the program's ResNet50 variants: BatchNorm merged into each convolution,
every convolution and dense layer a rule layer (`lrp_rules`), residual sums and the global
average pool with the Norm rule, SE / s_se gates constant (docs/adr/0028, 0034).

The copy is built once per model and kept while the model lives (it holds the merged weights:
about the model's size again, and the positive weights once a z+ composite has run). It is
rebuilt when a parameter or buffer of the model changes (a new tensor, an in-place write, a
BatchNorm's eps). It holds no per-call state: the composite comes from `rule_context`, so the
worker threads can share it. The SE gate modules are the model's own, so attention="off" /
"mean" and gate recording reach them.
"""

from __future__ import annotations

import threading
import weakref

import torch
from torch import Tensor, nn

from gcam_desktop.models.attention import SEGate
from gcam_desktop.models.resnet import Bottleneck, ResNet50, StageGate

from .lrp_rules import ConstantGate, NormMeanPool, NormSum, PassReLU, RuleConv, RuleLinear
from .model_state import module_shell

_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def supports(model: nn.Module) -> bool:
    """Our ResNet50 (any attention): its forward is known, so the rules can be put in place.
    Other networks go through Zennit's hooks (explain/lrp.py)."""
    return type(model) is ResNet50


def network(model: nn.Module) -> nn.Module:
    """The model's LRP copy, from the cache while the model's tensors are unchanged."""
    key = (tuple(_tensor_key(t) for t in (*model.parameters(), *model.buffers())),
           tuple(m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)))
    return _kept(_CACHE, model, key, lambda: _build(model))


def _tensor_key(t: Tensor | None):
    """What changes when a tensor is replaced, written in place, moved or cast."""
    return None if t is None else (t.data_ptr(), t._version, t.device, t.dtype)


def _kept(cache: weakref.WeakKeyDictionary, owner, key: tuple, make):
    """cache[owner]'s value while its key is `key`; else make() kept under the new key."""
    with _LOCK:
        hit = cache.get(owner)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make()
    with _LOCK:
        cache[owner] = (key, value)
    return value


def merge(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[Tensor, Tensor]:
    """The convolution's weight and bias with the BatchNorm (running statistics) folded in:
    Zennit's `merge_batch_norm` arithmetic, without leaving a BatchNorm of eps behind."""
    w = conv.weight.detach()
    b = conv.bias.detach() if conv.bias is not None else w.new_zeros(w.shape[0])
    if bn is None:
        return w, b
    scale = bn.weight.detach() / (bn.running_var + bn.eps) ** 0.5
    return w * scale[:, None, None, None], (b - bn.running_mean) * scale + bn.bias.detach()


def _rule_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, first: bool = False) -> RuleConv:
    """The rule layer of `conv` (+ `bn`), kept per convolution while its tensors are unchanged:
    the cascade of the sanity checks randomises one stage at a time, and only that stage's
    layers are merged again (the merge is a pass over every weight)."""
    tensors = [conv.weight, conv.bias] + ([] if bn is None else
                                          [bn.weight, bn.bias, bn.running_mean, bn.running_var])
    key = (first, None if bn is None else bn.eps, tuple(_tensor_key(t) for t in tensors))
    return _kept(_LAYERS, conv, key, lambda: RuleConv(conv, *merge(conv, bn), first=first))


_LAYERS: weakref.WeakKeyDictionary[nn.Conv2d, tuple[tuple, RuleConv]] = weakref.WeakKeyDictionary()


def _bottleneck_forward(self: Bottleneck, x: Tensor, stage_gate: StageGate | None = None) -> Tensor:
    """Bottleneck.forward with the LRP rules: the residual sum shares the relevance (Norm),
    the gate is a constant computed without a graph, so no relevance reaches the SE layers."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.branch(x)
    if self.se is not None or stage_gate is not None:
        with torch.no_grad():
            gate = self.se(out) if self.se is not None else stage_gate.for_branch(out)
        out = ConstantGate.apply(out, gate)
    return self.relu(NormSum.apply(identity, out))


def _clone(module: nn.Module, shared: set[int]) -> nn.Module:
    """The module tree copied object by object, tensors not copied, hooks left behind (a hook
    another thread puts on the model must not fire here); the modules in `shared` are kept."""
    if id(module) in shared:
        return module
    new = module_shell(module)
    new._modules = {k: None if m is None else _clone(m, shared) for k, m in module._modules.items()}
    return new


def _build(model: nn.Module) -> nn.Module:
    # A copy of the module objects only: every tensor is the model's own (the rule layers get
    # new, merged ones) and the SE gates are shared.
    shared = {id(m) for g in model.modules() if isinstance(g, SEGate) for m in g.modules()}
    net = _clone(model, shared)
    blocks = [(b, m) for b, m in zip(net.modules(), model.modules()) if isinstance(m, Bottleneck)]
    net.conv1, net.bn1 = _rule_conv(model.conv1, model.bn1, first=True), nn.Identity()
    net.relu, net.avgpool, net.fc = PassReLU(), NormMeanPool(), RuleLinear(model.fc)
    for block, source in blocks:
        for k in (1, 2, 3):
            setattr(block, f"conv{k}", _rule_conv(getattr(source, f"conv{k}"), getattr(source, f"bn{k}")))
            setattr(block, f"bn{k}", nn.Identity())
        if source.downsample is not None:
            block.downsample = nn.Sequential(_rule_conv(*source.downsample), nn.Identity())
        block.relu = PassReLU()  # not in place: the rules keep the outputs they saw
        block.forward = _bottleneck_forward.__get__(block)
    left = [n for n, m in net.named_modules() if id(m) not in shared
            and isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    if left:
        raise RuntimeError(f"LRP: layers without a rule in {type(model).__name__}: {', '.join(left)}")
    return net.eval()
