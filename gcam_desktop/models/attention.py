"""Squeeze-and-excitation attention (Hu et al.), in the key layout timm uses (`fc1`, `fc2`)."""

from __future__ import annotations

from contextvars import ContextVar

import torch
from torch import nn

# Set only by gcam_desktop.models.gates for the length of a `with` block (per thread, per call):
# a GateReplacement fixes gate values, a GateRecord keeps the gates computed.
GATE_REPLACEMENT: ContextVar = ContextVar("gcam_gate_replacement", default=None)
GATE_RECORD: ContextVar = ContextVar("gcam_gate_record", default=None)


def reduced_channels(channels: int, ratio: float = 1 / 16, divisor: int = 8) -> int:
    """C/16 rounded to a multiple of 8, as timm's make_divisible(round_limit=0) does: 256 -> 16."""
    return max(divisor, int(channels * ratio + divisor / 2) // divisor * divisor)


class SEGate(nn.Module):
    """Computes the channel gate s = sigmoid(W2 relu(W1 avgpool(u))), shape N x C x 1 x 1.

    The module returns the gate, not u * s: the bottleneck folds the product into the residual
    addition (one fused addcmul), and s_se-ResNet50 keeps the gate to reuse it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        rd = reduced_channels(channels)
        self.fc1 = nn.Conv2d(channels, rd, kernel_size=1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, kernel_size=1, bias=True)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        # Per-call overrides and recording (models/gates.py) live in context variables, not in
        # the module: one lookup each when none is active.
        replacement = GATE_REPLACEMENT.get()
        s = replacement.gate_for(self, u) if replacement is not None else None
        if s is None:
            s = torch.sigmoid(self.fc2(self.act(self.fc1(u.mean((2, 3), keepdim=True)))))
        record = GATE_RECORD.get()
        if record is not None:
            record.keep(self, s)
        return s
