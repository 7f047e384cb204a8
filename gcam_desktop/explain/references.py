"""What stands for "no information" at the input: DeepLIFT's references and occlusion's fills.

The engine sees normalised images, (pixel - mean) / std per channel, so the three choices are
three different pictures:
- "mean": 0 in normalised space, the model's training mean colour (a flat grey-brown for
  ImageNet's statistics); what IG's zero baseline and RISE's masks already use here.
- "black" / "zero": pixel value 0, i.e. -mean / std per channel. Needs the checkpoint's
  normalisation: `load_checkpoint` puts it on the model as `input_normalization`; a model
  without it (a bare `build_model`) is taken to use ImageNet's, the project's default.
- "blur": a strong Gaussian blur of the image itself (sigma a tenth of the shorter side):
  colours and layout stay, the object's detail goes (Sturmfels et al. 2020, "Visualizing the
  impact of feature attribution baselines").
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gcam_desktop.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD

BLUR_SIGMA_FRACTION = 0.1  # of the shorter side: 22 px at 224, 6.4 px at 64


def input_normalization(model: nn.Module) -> tuple[Sequence[float], Sequence[float]]:
    """(mean, std) the model's inputs were normalised with (ImageNet's when it does not say)."""
    found = getattr(model, "input_normalization", None)
    if found is None:
        return IMAGENET_MEAN, IMAGENET_STD
    mean, std = found
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def black(model: nn.Module, x: Tensor) -> Tensor:
    """Images of pixel value 0 in the model's normalised space, shaped like `x`."""
    mean, std = input_normalization(model)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (-m / s).expand_as(x).contiguous()


def strong_blur(x: Tensor) -> Tensor:
    """Each image blurred with sigma = a tenth of its shorter side (reflected at the border)."""
    side = min(x.shape[-2:])
    sigma = BLUR_SIGMA_FRACTION * side
    radius = max(1, min(math.ceil(3 * sigma), side - 1))  # reflect padding needs radius < side
    return _gaussian_blur(x, radius, sigma)


def _gaussian_blur(x: Tensor, radius: int, sigma: float) -> Tensor:
    """torchvision's `gaussian_blur` (the same kernel and reflect padding, a test checks it)
    in torch alone: the desktop bundle cannot import torchvision's compiled operators, and
    DeepLIFT loads with the engine."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    pdf = torch.exp(-0.5 * (offsets / sigma) ** 2)
    k1 = (pdf / pdf.sum()).to(x.dtype)
    channels = x.shape[-3]
    kernel = torch.outer(k1, k1).expand(channels, 1, -1, -1)
    padded = F.pad(x, [radius] * 4, mode="reflect")
    return F.conv2d(padded, kernel, groups=channels)


def reference_images(kind: str, model: nn.Module, x: Tensor, where: str, choices: Sequence[str]) -> Tensor:
    """The reference picture for each image of `x`: kind "mean", "black" (alias "zero") or
    "blur". Anything not in `choices` raises ValueError naming `where` ("deeplift reference")."""
    if kind not in choices:
        raise ValueError(f"{where} must be one of {', '.join(map(repr, choices))}, not {kind!r}")
    if kind == "mean":
        return torch.zeros_like(x)
    if kind in ("black", "zero"):
        return black(model, x)
    if kind == "blur":
        return strong_blur(x)
    raise ValueError(f"{where}: no picture is defined for {kind!r}")
