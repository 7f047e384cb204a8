"""From a PIL image to a model's input tensor, driven by a checkpoint's metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess(img: Image.Image, input_size: int, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """3 x S x S float tensor. The whole image is squashed to S x S (no crop), so a map
    computed on it stretches back over the whole picture; training resizes the same way."""
    size = int(input_size)
    arr = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    t = torch.from_numpy(arr).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (t - mean_t) / std_t


def preprocess_for(meta: Mapping, img: Image.Image) -> torch.Tensor:
    return preprocess(img, meta.get("input_size", 224), meta.get("mean", IMAGENET_MEAN),
                      meta.get("std", IMAGENET_STD))


def preprocess_batch(imgs: Sequence[Image.Image], meta: Mapping) -> torch.Tensor:
    return torch.stack([preprocess_for(meta, im) for im in imgs])


def denormalize(t: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """A 3 x H x W normalised tensor back to an H x W x 3 uint8 picture."""
    mean_t = torch.tensor(mean).view(3, 1, 1)
    std_t = torch.tensor(std).view(3, 1, 1)
    img = (t.detach().cpu().float() * std_t + mean_t).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def true_class_from_path(path, class_names: Sequence[str]) -> int | None:
    """The class index given by the image's folder name (ImageFolder layout), if any."""
    parent = Path(path).parent.name
    try:
        return list(class_names).index(parent)
    except ValueError:
        lowered = [c.lower() for c in class_names]
        return lowered.index(parent.lower()) if parent.lower() in lowered else None
