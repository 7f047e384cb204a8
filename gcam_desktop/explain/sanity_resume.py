"""A shortcut for the sanity cascade: a step whose lower stages are still the original's does
not run them again for the CAM methods (docs/adr/0035).

The cascade randomises a ResNet50 from the top down, so at every step but the last the stem
and the lower stages are untouched. The CAM methods run the model once, on the image itself,
and use nothing below their layer: for them the step's forward can start at the lowest stage
that is randomised, or at the stage that holds their layer if that is lower. Its input is
that stage's input in the original model, computed once per image. The result is the same
map; what is saved is the forward through the untouched stages, most of a forward for the
fc and layer4 steps.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from gcam_desktop.models.resnet import ResNet50

from .model_state import explaining, model_device

# Methods that run the model once, on the image itself, and need nothing below their layer.
# (Score-CAM runs masked copies; the gradient methods need the whole graph.)
RESUMABLE = frozenset({"gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam", "cam"})
STAGE_INDEX = {"stem": 0, "layer1": 1, "layer2": 2, "layer3": 3, "layer4": 4, "fc": 5}


class Resume:
    """The original model's stage inputs for one image: inputs[k] is what layer k receives."""

    def __init__(self, model: nn.Module, image: Tensor, layer: str | None) -> None:
        self.inputs: dict[int, Tensor] = {}
        self.layer_stage = 0
        if type(model) is not ResNet50:
            return
        stage = STAGE_INDEX.get((layer or model.default_layer).split(".")[0], 0)
        if not 1 <= stage <= 4:
            return
        self.layer_stage = stage
        self.image = image.to(*model_device(model, image.device))

        def keep(k):
            return lambda _m, _inp, out: self.inputs.__setitem__(k, out.detach())

        # layer k's input: the stem's output (after the max pool) for k = 1, else layer k-1's.
        modules = [model.maxpool] + [getattr(model, f"layer{k}") for k in range(1, stage)]
        handles = [m.register_forward_hook(keep(k)) for k, m in enumerate(modules, start=1)]
        try:
            with explaining(model), torch.no_grad():
                model(self.image)
        finally:
            for h in handles:
                h.remove()

    def start(self, randomised: list[str]) -> int:
        """The stage a step's forward can start at (1..4), or 0: from the image."""
        if not self.layer_stage or any(n not in STAGE_INDEX for n in randomised):
            return 0
        lowest = min(STAGE_INDEX[n] for n in randomised)
        return max(0, min(lowest, self.layer_stage))

    @contextmanager
    def applied(self, model: nn.Module, randomised: list[str]) -> Iterator[None]:
        """While in the block, `model` (a randomised copy) starts its forward of this image at
        `start(randomised)`; any other input runs the whole forward."""
        k = self.start(randomised)
        if not k:
            yield
            return
        h, image = self.inputs[k], self.image

        def forward(x: Tensor) -> Tensor:
            if x.shape == image.shape and x.device == image.device and torch.equal(x, image):
                return ResNet50.forward_from(model, k, h)
            return ResNet50.forward(model, x)

        model.forward = forward
        try:
            yield
        finally:
            del model.forward
