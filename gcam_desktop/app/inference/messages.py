"""What the UI asks the inference worker for, and what comes back. Plain data, no Qt."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gcam_desktop.app.common.control_values import OWN_PREDICTION  # the settings remember it too

_ids = itertools.count(1)


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
    target: int | str = OWN_PREDICTION  # or a class name, looked up in the slot's model
    attention: str = "on"       # "off": the SE / s_se gates replaced by 1 (explain(attention=))
    # The method's options (the options row: occlusion's patch, RISE's masks...) as sorted
    # (name, value) pairs; only those that differ from the engine's defaults.
    options: tuple[tuple[str, Any], ...] = ()
    panel: str = ""             # a panel outside the Compare grid (the Families tab's); "" = the slot's
    id: int = field(default_factory=lambda: next(_ids), compare=False)

    @property
    def key(self) -> tuple:
        """The result cache key: image, model, method, layer, class, attention and options."""
        return (self.image_key, self.model_token, self.method, self.layer, self.target, self.attention,
                self.options)

    @property
    def channel(self) -> str:
        """Which panel the request is for: a newer request of the same channel supersedes it.
        The attention-off panel of a slot is a channel of its own (see `off_channel`), and so is
        each panel of the Families tab (`panel`)."""
        if self.panel:
            return self.panel
        return self.slot if self.attention == "on" else off_channel(self.slot)


OFF_SUFFIX = " \u00b7 attention off"


def off_channel(slot: str) -> str:
    """The panel (and request channel) that shows `slot`'s model with its attention off."""
    return slot + OFF_SUFFIX


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
    cancelled: bool = False                # stopped early: its panel had moved on (dropped unshown)
    image_error: bool = False              # the image itself could not be read
    stale: bool = False                    # asked of a model the slot no longer holds
    missing_class: str | None = None       # the class asked for by name, which this model lacks
    # SE / s_se models: each gate's C channel weights for this image ({gate name: float32}),
    # recorded during the explanation's own forward; None for a model without attention.
    gates: dict[str, np.ndarray] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.map is not None

    def nbytes(self) -> int:
        gates = sum(g.nbytes for g in self.gates.values()) if self.gates else 0
        return sum(a.nbytes for a in (self.map, self.raw) if a is not None) + gates + 512

    @property
    def target_name(self) -> str | None:
        """The name of the class the map explains (maps compare across models by this)."""
        if self.missing_class is not None or not 0 <= self.target_class < len(self.class_names):
            return None
        return self.class_names[self.target_class]

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
    # Each method's options and their defaults (explain.engine.method_options): the options row's.
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def as_options(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A method's options as a request holds them: sorted pairs (hashable, one order)."""
    return tuple(sorted(options.items()))
