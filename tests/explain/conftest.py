"""Fixtures for the engine's tests: the four real architectures, built once per session with
small class counts, and a small batch of images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gcam_desktop.models import ARCHS, build_model


@pytest.fixture(scope="session")
def arch_models() -> dict[str, nn.Module]:
    """The four architectures with 3 classes, eval mode, seeded (built once: ~1 s each)."""
    torch.manual_seed(0)
    models = {a: build_model(a, 3).eval() for a in ARCHS}
    for m in models.values():
        # Random BN statistics make the random nets' maps less degenerate than identity BNs.
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return models


@pytest.fixture(scope="session")
def images64() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
