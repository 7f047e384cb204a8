"""ResNet50 (torchvision V1.5 layout) and its two attention variants.

Key names follow torchvision (`layerK.i.convJ`), SE-ResNet50 follows timm's `seresnet50`
(`layerK.i.se.fc1`), and s_se-ResNet50 stores one gate per stage as `layerK.se`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .attention import SEGate
from .names import SE_GATES

STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
# Each stage and each of its blocks: "layer1", "layer1.0", ..., "layer4.2".
EXPLAINABLE_LAYERS = tuple(name for k, n in enumerate(STAGE_BLOCKS, start=1)
                           for name in [f"layer{k}", *(f"layer{k}.{i}" for i in range(n))])


class StageGate:
    """Holds the s_se attention of one stage for one forward pass only.

    It is created inside `SharedSEStage.forward` and dies with that call, so nothing
    outlives the pass and two threads running two batches never see each other's gate.
    """

    __slots__ = ("se", "gate")

    def __init__(self, se: SEGate) -> None:
        self.se = se
        self.gate: torch.Tensor | None = None

    def for_branch(self, branch: torch.Tensor) -> torch.Tensor:
        if self.gate is None:  # the stage's first block computes it ...
            self.gate = self.se(branch)
        return self.gate  # ... the later blocks reuse it


class Bottleneck(nn.Module):
    """torchvision's V1.5 bottleneck (stride on the 3x3), optionally with per-block SE."""

    def __init__(self, inplanes: int, width: int, stride: int = 1, se: bool = False) -> None:
        super().__init__()
        out = width * EXPANSION
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.se = SEGate(out) if se else None
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: torch.Tensor, stage_gate: StageGate | None = None) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.branch(x)
        if self.se is not None:
            gate = self.se(out)
        elif stage_gate is not None:
            gate = stage_gate.for_branch(out)
        else:
            return self.relu(out + identity)
        # identity + out * gate in one pass over memory: attention costs no extra elementwise op.
        return self.relu(torch.addcmul(identity, out, gate))


class SharedSEStage(nn.Sequential):
    """A stage whose blocks share one SE gate, computed in the first block (s_se-ResNet50)."""

    def __init__(self, blocks: list[nn.Module], channels: int) -> None:
        super().__init__(*blocks)
        self.se = SEGate(channels)

    def blocks(self) -> list[nn.Module]:
        return [m for name, m in self.named_children() if name != "se"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = StageGate(self.se)
        for block in self.blocks():
            x = block(x, gate)
        return x


class ResNet50(nn.Module):
    """ResNet50 with optional attention: attention in {None, "block", "stage"}."""

    default_layer = "layer4"

    def __init__(self, num_classes: int = 1000, attention: str | None = None, arch: str = "resnet50") -> None:
        super().__init__()
        if attention not in (None, "block", "stage"):
            raise ValueError(f"attention must be None, 'block' or 'stage', not {attention!r}")
        self.arch = arch
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for k, (n, width) in enumerate(zip(STAGE_BLOCKS, STAGE_WIDTHS), start=1):
            stride = 1 if k == 1 else 2
            blocks: list[nn.Module] = []
            for i in range(n):
                blocks.append(Bottleneck(inplanes, width, stride if i == 0 else 1, se=attention == "block"))
                inplanes = width * EXPANSION
            stage = SharedSEStage(blocks, inplanes) if attention == "stage" else nn.Sequential(*blocks)
            setattr(self, f"layer{k}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        self.explainable_layers = EXPLAINABLE_LAYERS
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation, so training from scratch behaves like the reference.
        if self.fc.weight.is_meta:
            return  # built on the meta device only to receive a checkpoint's tensors (and
            # random init on meta imports torch._dynamo: seconds at start-up for nothing)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))

    def forward_from(self, stage: int, h: torch.Tensor) -> torch.Tensor:
        """The class scores from the input of stage `stage` (1..4: layer1..layer4), i.e. the
        output of the stage below it: the rest of `forward`, for a caller that already has
        that output (the sanity cascade, whose lower stages are the unchanged original's)."""
        if not 1 <= stage <= 4:
            raise ValueError(f"stage must be 1..4 (layer1..layer4), not {stage!r}")
        for k in range(stage, 5):
            h = getattr(self, f"layer{k}")(h)
        return self.fc(torch.flatten(self.avgpool(h), 1))


def resnet50(num_classes: int = 1000) -> ResNet50:
    return ResNet50(num_classes, attention=SE_GATES["resnet50"], arch="resnet50")


def se_resnet50(num_classes: int = 1000) -> ResNet50:
    return ResNet50(num_classes, attention=SE_GATES["se_resnet50"], arch="se_resnet50")


def s_se_resnet50(num_classes: int = 1000) -> ResNet50:
    return ResNet50(num_classes, attention=SE_GATES["s_se_resnet50"], arch="s_se_resnet50")


RESNETS: dict[str, Callable[[int], nn.Module]] = {
    "resnet50": resnet50,
    "se_resnet50": se_resnet50,
    "s_se_resnet50": s_se_resnet50,
}
