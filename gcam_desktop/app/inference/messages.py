"""What the UI asks the inference worker for, and what comes back. Plain data, no Qt."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_ids = itertools.count(1)

OWN_PREDICTION = -1


def image_key(path: str) -> tuple[str, int, int]:
    """A file's identity for caching: an edited file (new mtime or size) is a new image."""
    try:
        st = os.stat(path)
        return (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (os.path.abspath(path), 0, 0)


@dataclass(frozen=True)
class ExplainRequest:
    slot: str                   # the model slot asked (its panel shows the result)
    path: str
    image_key: tuple
    model_token: str            # changes whenever the slot gets another model
    method: str
    layer: str                  # "" = the model's default layer
    target: int = OWN_PREDICTION
    id: int = field(default_factory=lambda: next(_ids), compare=False)

    @property
    def key(self) -> tuple:
        """The result cache key: image, model, method, layer and class."""
        return (self.image_key, self.model_token, self.method, self.layer, self.target)


@dataclass
class ExplainResult:
    request: ExplainRequest
    map: np.ndarray | None = None          # H x W float32 in [0, 1] at the model's input size
    raw_min: float = 0.0                   # the map's range before normalisation, so panels can
    raw_max: float = 1.0                   # share one scale ("shared" normalisation)
    raw: np.ndarray | None = None          # h x w at the layer's resolution, unnormalised
    target_class: int = -1
    top: list[tuple[int, float]] = field(default_factory=list)   # top-5 (class, probability)
    class_names: list[str] = field(default_factory=list)
    true_class: int | None = None
    layer: str = ""
    method: str = ""
    seconds: float = 0.0
    error: str | None = None
    image_error: bool = False              # the image itself could not be read
    stale: bool = False                    # asked of a model the slot no longer holds

    @property
    def ok(self) -> bool:
        return self.error is None and self.map is not None

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.map, self.raw) if a is not None) + 512

    def unnormalised(self) -> np.ndarray:
        """The map on its raw scale (maps are min-max normalised per map by the engine)."""
        return self.raw_min + self.map * (self.raw_max - self.raw_min)


@dataclass
class ModelInfo:
    """What the UI learns about a model the worker loaded."""

    slot: str
    token: str
    arch: str
    path: str | None
    meta: dict[str, Any]
    layers: tuple[str, ...]
    default_layer: str
    device: str
    untrained: bool = False


@dataclass(frozen=True)
class EngineInfo:
    """What the engine offers, sent once by the worker when torch and the engine are loaded."""

    methods: tuple[str, ...]
    gradient_methods: tuple[str, ...]    # methods that explain the input, not a layer
    colormaps: tuple[str, ...]
    archs: tuple[str, ...]
    devices: tuple[str, ...]
    device: str
    seconds: float                       # time to import torch and the engine
    torch: str                           # torch's version
