"""Borrowing a model for an explanation and handing it back exactly as it was.

Three tools, each undone in a `finally`:
- `explaining(model)`: eval mode and frozen parameters for the call (so no parameter gradient
  is ever computed), one explanation per model at a time.
- `LayerCapture`: a forward hook on the target layer that keeps its activation and, for the
  gradient CAMs, swaps the output for a fresh leaf tensor, so the autograd graph starts there.
- `guided_relus()`: guided backpropagation through every ReLU, as a thread-local torch function
  mode: no module is swapped, and another thread running the same model is unaffected.

Limits: eval mode and the `requires_grad` flags are the model's own state, so another thread
that *trains* the same model object during an explanation would see them changed (inference
elsewhere is unaffected: it neither needs gradients nor changes mode). The capture hook and
the guided mode act only in the thread that asked for the explanation.
"""

from __future__ import annotations

import copy
import threading
import weakref
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

_locks: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def module_shell(module: nn.Module) -> nn.Module:
    """The module object copied, with its own parameter, buffer and child dicts holding the same
    tensors and children, and none of its hooks (a hook another thread puts on the original must
    not fire on the copy). Setting an attribute of the copy leaves the original as it is."""
    new = copy.copy(module)
    for name, value in vars(module).items():
        if "hooks" in name and isinstance(value, dict):
            setattr(new, name, type(value)())
    new._parameters, new._buffers, new._modules = (dict(module._parameters), dict(module._buffers),
                                                   dict(module._modules))
    return new


def _lock_for(model: nn.Module) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock


@contextmanager
def explaining(model: nn.Module) -> Iterator[None]:
    """Eval mode, every parameter frozen; modes and flags restored afterwards, even on error.

    Explanations of one model are serialised: two threads freezing and restoring the same
    flags at once would otherwise restore each other's frozen state.
    """
    with _lock_for(model):
        modes = [(m, m.training) for m in model.modules()]
        flags = [(p, p.requires_grad) for p in model.parameters()]
        try:
            for m, _ in modes:
                m.training = False  # per module, as eval() does, without calling an overridden train()
            for p, _ in flags:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            for m, mode in modes:
                m.training = mode


def model_device(model: nn.Module, fallback: torch.device | None = None) -> tuple[torch.device, torch.dtype]:
    """Where the model's weights live, and their float type (`fallback` or the CPU without any)."""
    for p in model.parameters():
        return p.device, (p.dtype if p.is_floating_point() else torch.float32)
    for b in model.buffers():
        if b.is_floating_point():
            return b.device, b.dtype
    return fallback or torch.device("cpu"), torch.float32


def forward_logits(model: nn.Module, x: Tensor) -> Tensor:
    """model(x), checked to be the N x num_classes scores every method starts from."""
    out = model(x)
    if isinstance(out, Tensor) and out.dim() == 2 and out.shape[0] == x.shape[0]:
        return out
    shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
    raise ValueError(f"the model must return N x num_classes class scores, not {shape}")


class LayerCapture:
    """Keeps the output of one layer during one forward pass of the calling thread.

    With `start_graph=True` the output is replaced by a detached leaf that requires grad:
    everything before the layer ran without a graph (the parameters are frozen and the input
    needs no gradient), so a backward from the class score stops at this leaf.
    Downstream code receives a clone, so an in-place op after the layer cannot touch the kept
    activation (nor trip autograd's leaf check).
    """

    def __init__(self, module: nn.Module, name: str, start_graph: bool) -> None:
        self.module = module
        self.name = name
        self.start_graph = start_graph
        self.activation: Tensor | None = None
        self._calls = 0
        self._owner = threading.get_ident()
        self._handle = None

    def __enter__(self) -> "LayerCapture":
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: nn.Module, inputs, output):
        if threading.get_ident() != self._owner:
            return None  # someone else's forward of the same model: leave it alone
        if not isinstance(output, Tensor) or output.dim() != 4:
            kind = type(output).__name__ if not isinstance(output, Tensor) else f"a {output.dim()}-d tensor"
            raise ValueError(f"layer {self.name!r} returns {kind}, not an N x C x h x w feature map; "
                             f"pick a convolutional layer")
        self._calls += 1
        if self._calls > 1:
            raise ValueError(f"layer {self.name!r} runs more than once per forward pass, so its map "
                             f"would be ambiguous; pick another layer")
        act = output.detach()
        if self.start_graph:
            act.requires_grad_(True)
        self.activation = act
        return act.clone()

    def result(self) -> Tensor:
        if self.activation is None:
            raise ValueError(f"layer {self.name!r} did not run in the forward pass; pick another layer")
        return self.activation


class _GuidedReLU(torch.autograd.Function):
    """ReLU forward; backward passes only positive gradients where the input was positive
    (Springenberg et al.): R_in = (x > 0) * (R_out > 0) * R_out."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return grad.clamp_min(0) * (out > 0)


_RELU = {F.relu, torch.relu, torch.Tensor.relu}
_RELU_INPLACE = {torch.relu_, torch.Tensor.relu_}  # F.relu_ is torch.relu_


class _GuidedMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU or func in _RELU_INPLACE:
            x = args[0]
            inplace = func in _RELU_INPLACE or bool(kwargs.get("inplace", False) or (len(args) > 1 and args[1]))
            if isinstance(x, Tensor) and x.requires_grad:
                out = _GuidedReLU.apply(x)
                if inplace:  # keep the in-place contract for code that relies on it
                    x.copy_(out)
                    return x
                return out
        return func(*args, **kwargs)


@contextmanager
def guided_relus() -> Iterator[None]:
    """Guided backpropagation through every ReLU (module or functional) called in this block.

    Torch function modes live in thread-local state, so only this thread's forward passes
    are guided, and leaving the block leaves nothing behind. The backward may run after the
    block: the guided rule is recorded in the graph.
    """
    with _GuidedMode():
        yield
