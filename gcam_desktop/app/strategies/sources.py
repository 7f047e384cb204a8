"""What the Strategies tab analyses: the models it is offered (`StrategyModel`, one per loaded
slot) and the job it sends its worker (`StrategiesJob`), with the key its result is cached
under. Plain data, no Qt."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class StrategyModel:
    """A loaded slot's model: its checkpoint (a file or an `imagenet:ARCH` reference), read
    again by the tab's worker into a copy of its own (the engine hooks the model it explains,
    docs/adr/0008)."""

    slot: str
    arch: str
    path: str | None
    token: str                      # the slot's loaded model (ModelInfo.token): another model, another token
    meta: Mapping = field(default_factory=dict, compare=False, hash=False)
    layers: tuple[str, ...] = ()
    default_layer: str = ""

    @property
    def label(self) -> str:
        from gcam_desktop.models.names import arch_label

        return f"{self.slot} ({arch_label(self.arch)})"

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in (self.meta.get("class_names") or [])]

    def weights_key(self) -> tuple:
        """Identity of the weights: a checkpoint file rewritten in place is another model."""
        if self.path and os.path.isfile(self.path):
            st = os.stat(self.path)
            return (self.path, st.st_mtime_ns, st.st_size)
        return (self.path, self.token)


ALL_CLASSES = None   # class_index for "every class"
AUTO_K = None        # k for "choose by the eigengap"


@dataclass(frozen=True)
class StrategiesJob:
    """Explain `paths` with `model` for one class (or every class), cluster the maps."""

    id: int
    folder: str
    paths: tuple[str, ...]
    model: StrategyModel
    method: str
    layer: str                      # "" = the model's default layer
    class_index: int | None         # ALL_CLASSES: each image explained for its own prediction
    k: int | None = AUTO_K
    duplicates: bool = True         # near-duplicates collapsed before clustering (deep hash)
    stop: threading.Event = field(default_factory=threading.Event, compare=False, hash=False)

    @property
    def key(self) -> tuple:
        """The session cache's key: (folder, model, method, layer, class), the k asked for and
        whether copies were collapsed. The folder is its path and its image list (a file added
        is another folder); the model is its weights (the same checkpoint in another slot is the
        same model)."""
        return (os.path.abspath(self.folder), hash(self.paths), len(self.paths), self.model.weights_key(),
                self.method, self.layer or self.model.default_layer, self.class_index, self.k, self.duplicates)
