"""Per-call access to the SE gates: record them, or replace them, for one block of code.

Both work through context variables that `SEGate.forward` reads, never through module state:
a scope opened for one model in one thread changes nothing for another thread, nor for another
model run inside the scope, and nothing is left behind when it closes (docs/adr/0012). The
model object stays as it was: no hook, no attribute, no swapped module.

Gate names: SE-ResNet50's per-block gate `layerK.i.se` is named `layerK.i`, s_se-ResNet50's
per-stage gate `layerK.se` is named `layerK`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import Tensor, nn

from .names import arch_label
from .attention import GATE_RECORD as _RECORD, GATE_REPLACEMENT as _REPLACE, SEGate


class GateRecord:
    """The gates one scope saw, by name, N x C each, detached (the first call of each gate)."""

    def __init__(self, names: Mapping[nn.Module, str]) -> None:
        self._names = names
        self.gates: dict[str, Tensor] = {}

    def keep(self, module: nn.Module, gate: Tensor) -> None:
        name = self._names.get(module)
        if name is not None and name not in self.gates:
            self.gates[name] = gate.detach().flatten(1)

    def in_order(self) -> dict[str, Tensor]:
        """The gates kept, in the model's forward order, as float32."""
        return {n: self.gates[n].float() for n in self._names.values() if n in self.gates}


class GateReplacement:
    """Fixed gate values by module: a C vector (the same for every image) or a scalar."""

    def __init__(self, values: Mapping[nn.Module, Tensor | float]) -> None:
        self._values = values

    def gate_for(self, module: nn.Module, u: Tensor) -> Tensor | None:
        value = self._values.get(module)
        if value is None:
            return None
        shape = (u.shape[0], u.shape[1], 1, 1)
        if isinstance(value, Tensor):
            return value.to(u.device, u.dtype).reshape(1, -1, 1, 1).expand(shape)
        return u.new_full((1, 1, 1, 1), float(value)).expand(shape)


def gate_modules(model: nn.Module) -> dict[str, SEGate]:
    """The model's SE gates by gate name, in forward order; empty for a model without any."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, SEGate):
            out[name[: -len(".se")] if name.endswith(".se") else name] = module
    return out


def has_gates(model: nn.Module) -> bool:
    return any(isinstance(m, SEGate) for m in model.modules())


def _need_gates(model: nn.Module) -> dict[str, SEGate]:
    modules = gate_modules(model)
    if not modules:
        arch = arch_label(getattr(model, "arch", type(model).__name__))
        raise ValueError(f"{arch} has no attention gates: only SE-ResNet50 (one gate per block) and "
                         f"s_se-ResNet50 (one per stage) have")
    return modules


@contextmanager
def recording_gates(model: nn.Module) -> Iterator[GateRecord]:
    """Keep every gate of `model` computed in this thread inside the block."""
    record = GateRecord({m: n for n, m in _need_gates(model).items()})
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


@contextmanager
def gates_replaced(model: nn.Module, values: float | Mapping[str, Tensor | float]) -> Iterator[None]:
    """Run `model`'s gates with fixed values inside the block: one number for every gate
    (1.0 switches the attention off), or {gate name: C vector or number} for each gate."""
    modules = _need_gates(model)
    if isinstance(values, Mapping):
        unknown = sorted(set(values) - set(modules))
        missing = [n for n in modules if n not in values]
        if unknown or missing:
            raise ValueError(f"gate values must name exactly the gates of "
                             f"{getattr(model, 'arch', type(model).__name__)} ({', '.join(modules)}); "
                             f"unknown: {', '.join(unknown) or 'none'}, missing: {', '.join(missing) or 'none'}")
        by_module: dict[nn.Module, Tensor | float] = {}
        for name, v in values.items():
            channels = modules[name].fc2.out_channels
            if isinstance(v, Tensor) and v.numel() != 1:
                if v.numel() != channels:
                    raise ValueError(f"gate {name!r} has {channels} channels, the value given has {v.numel()}")
                by_module[modules[name]] = v.detach().reshape(-1)
            else:
                by_module[modules[name]] = float(v)
    else:
        by_module = {m: float(values) for m in modules.values()}
    token = _REPLACE.set(GateReplacement(by_module))
    try:
        yield
    finally:
        _REPLACE.reset(token)
