"""Architectures by name."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .names import ARCHS
from .resnet import EXPLAINABLE_LAYERS, RESNETS
from .small_cnn import SmallCNN, small_cnn

_BUILDERS: dict[str, Callable[[int], nn.Module]] = {**RESNETS, "small_cnn": small_cnn}
# names.py lists what is built here, for readers that must not import torch.
assert tuple(_BUILDERS) == ARCHS, (tuple(_BUILDERS), ARCHS)


def build_model(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised model of a named architecture."""
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be at least 1, not {num_classes}")
    return _BUILDERS[arch](int(num_classes))


# Grad-CAM's paper explains ResNet at 7 x 7 cells (224 px at layer4); a coarser map cannot sit on
# an object, so the default layer is the deepest one that still has at least this many cells.
MIN_MAP_CELLS = 7
_STAGE_STRIDES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def default_layer_for(arch: str, input_size: int) -> str:
    """The layer explained by default for `arch` at `input_size` px (see MIN_MAP_CELLS)."""
    if arch == "small_cnn":
        return "conv2"
    fitting = [name for name, stride in _STAGE_STRIDES.items() if -(-int(input_size) // stride) >= MIN_MAP_CELLS]
    return fitting[-1] if fitting else "layer1"


_LAYERS = {**{arch: EXPLAINABLE_LAYERS for arch in RESNETS}, "small_cnn": SmallCNN.explainable_layers}


def explainable_layers(arch: str) -> tuple[str, ...]:
    """The layers of `arch` a map can be made for, without building the model."""
    return _LAYERS[arch]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The explainable layer `name` of a model (e.g. "layer4" or "layer4.2")."""
    valid = tuple(getattr(model, "explainable_layers", ()))
    if name not in valid:
        raise ValueError(f"unknown layer {name!r} for {getattr(model, 'arch', type(model).__name__)}; "
                         f"valid layers: {', '.join(valid)}")
    return model.get_submodule(name)


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple's MPS, then the CPU; otherwise the named device."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} asked for, but MPS is not available here")
    return device


def available_devices() -> list[str]:
    """Device names the user can pick, "auto" first."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names
