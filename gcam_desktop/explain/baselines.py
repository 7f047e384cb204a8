"""Maps that know nothing of the model (issue 20): the baselines a method has to beat. Qt-free.

- random: seeded uniform noise, the floor every metric should clear;
- centre: a centred Gaussian (sigma a quarter of each side), since objects in photos sit near
  the middle: a method that does not beat it on pointing game has not shown it finds objects;
- edges: the Sobel gradient magnitude of the image (Adebayo et al. 2018 showed some saliency
  methods behave like edge detectors): a method that does not beat it is explaining the image,
  not the model.

Each takes the model's normalised inputs (N x 3 x H x W) and returns N x H x W maps in [0, 1],
so they go through the same metrics as a method's maps.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

BASELINES = ("random", "centre", "edges")
BASELINE_LABELS = {"random": "Random map", "centre": "Centred Gaussian", "edges": "Sobel edges"}
CENTRE_SIGMA = 0.25  # of each side: the Gaussian's spread


def baseline_maps(name: str, images: Tensor, seed: int = 0) -> Tensor:
    """The named baseline's maps for `images` (N x 3 x H x W), N x H x W float32 in [0, 1]."""
    n, _, h, w = images.shape
    if name == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(n, h, w, generator=g)
    if name == "centre":
        ys = torch.linspace(-0.5, 0.5, h)[:, None] / CENTRE_SIGMA
        xs = torch.linspace(-0.5, 0.5, w)[None, :] / CENTRE_SIGMA
        return torch.exp(-(ys ** 2 + xs ** 2) / 2).expand(n, h, w).clone()
    if name == "edges":
        return torch.from_numpy(np.stack([_sobel(img) for img in images.detach().cpu().numpy()]))
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def _sobel(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float64).mean(0)
    magnitude = np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))
    top = magnitude.max()
    return (magnitude / top if top > 0 else magnitude).astype(np.float32)
