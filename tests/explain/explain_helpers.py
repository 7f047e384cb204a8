"""Tiny models whose every gradient is known by hand, and a snapshot of everything about a
model that an explanation must leave as it found it. (A plain module: conftest.py holds the
fixtures, and test modules import these by name.)"""

from __future__ import annotations

import torch
from torch import nn


HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
              "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_state_dict_hooks",
              "_load_state_dict_pre_hooks")


class ChannelSelect(nn.Module):
    """A = the first `channels` input channels, exactly (a 1x1 conv with an identity weight)."""

    def __init__(self, channels: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            for k in range(channels):
                self.conv.weight[k, k] = 1.0

    def forward(self, x):
        return self.conv(x)


class FlatHead(nn.Module):
    """logits_c = sum_k,i,j V[c,k,i,j] * A_k(i,j): dy_c/dA = V[c], known everywhere."""

    arch = "flat_head"
    explainable_layers = ("features",)
    default_layer = "features"

    def __init__(self, V: torch.Tensor) -> None:
        super().__init__()
        self.features = ChannelSelect(V.shape[1])
        self.head = nn.Linear(V[0].numel(), V.shape[0], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(V.flatten(1))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(self.features(x).flatten(1))


class GapHead(nn.Module):
    """A = first 2 input channels, pooled 2x2 when `pool`; logits = fc(mean over positions of A)."""

    arch = "gap_head"
    explainable_layers = ("features", "pool")
    default_layer = "pool"

    def __init__(self, W: torch.Tensor, pool: bool = True) -> None:
        super().__init__()
        self.features = ChannelSelect(W.shape[1])
        self.pool = nn.AvgPool2d(2) if pool else nn.Identity()
        self.fc = nn.Linear(W.shape[1], W.shape[0], bias=True)
        with torch.no_grad():
            self.fc.weight.copy_(W)
            self.fc.bias.fill_(0.25)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        a = self.pool(self.features(x))
        return self.fc(a.mean((2, 3)))


def image_from_channels(*channels: list[list[float]]) -> torch.Tensor:
    """1 x 3 x h x w: the given channels first, the rest filled with a decoy the model ignores."""
    a = torch.tensor(channels, dtype=torch.float32)
    decoy = torch.full((3 - a.shape[0], *a.shape[1:]), 7.0)
    return torch.cat([a, decoy]).unsqueeze(0)


def snapshot(model: nn.Module) -> dict:
    """Everything an explanation must restore: modes, flags, grads, hooks, weights, buffers."""
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [len(getattr(m, d, {}) or {}) for m in model.modules() for d in HOOK_DICTS],
        "types": [type(m) for m in model.modules()],
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "global_modes": torch._C._len_torch_function_stack(),
    }


def assert_untouched(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert all(g is None for g in after["grads"]), "a parameter .grad was written"
    assert after["hooks"] == before["hooks"], "a hook was left registered"
    assert after["types"] == before["types"], "a module was swapped"
    assert after["global_modes"] == before["global_modes"] == 0, "a torch function mode was left on"
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), f"{k} changed"
