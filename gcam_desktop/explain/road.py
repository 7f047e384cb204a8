"""ROAD: RemOve And Debias (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for
Attribution Methods"). Qt-free.

Deletion with a constant fill leaks the removed region's shape to the model (a black blob is
itself a feature). ROAD fills the removed pixels by noisy linear imputation instead: each one
becomes the weighted mean of its 8 neighbours (1/6 for the 4 direct ones, 1/12 for the
diagonals; known neighbours are fixed, unknown ones are solved for together as one sparse
linear system, one right-hand side per channel), plus a little Gaussian noise. The class
probability is then read at a list of removal percentages, most relevant pixels first (MoRF,
a good map makes it fall fast) and least relevant first (LeRF, a good map keeps it high).

The thresholding follows the authors' reference as packaged by pytorch-grad-cam: removing p %
of the pixels keeps those strictly below the map's (100 - p)-th percentile (NumPy's linear
interpolation) for MoRF, and those strictly above the p-th percentile for LeRF. A test checks
ours against pytorch-grad-cam's ROAD on the same model, image, map and percentages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.sparse import coo_array
from scipy.sparse.linalg import spsolve
from torch import Tensor, nn

from .model_state import explaining, model_device

DEFAULT_PERCENTAGES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
DEFAULT_NOISE = 0.01
# (row offset, column offset): weight. The direct neighbours count twice the diagonal ones.
NEIGHBOUR_WEIGHTS = {(-1, -1): 1 / 12, (-1, 0): 1 / 6, (-1, 1): 1 / 12, (0, -1): 1 / 6,
                     (0, 1): 1 / 6, (1, -1): 1 / 12, (1, 0): 1 / 6, (1, 1): 1 / 12}


def impute(image: Tensor, remove: Tensor, noise: float = DEFAULT_NOISE,
           generator: torch.Generator | None = None) -> Tensor:
    """`image` (C x H x W) with the pixels where `remove` (H x W, bool) is True filled by noisy
    linear imputation from their neighbours. Returns a new tensor; the input is left alone."""
    c, h, w = image.shape
    remove = remove.detach().cpu().numpy().astype(bool)
    if remove.shape != (h, w):
        raise ValueError(f"mask {remove.shape} does not match the image's {h} x {w}")
    out = image.detach().cpu().clone()
    missing = np.flatnonzero(remove.ravel())
    if missing.size == 0:
        return out.to(image.device)
    values = out.reshape(c, -1).double().numpy()
    a, b = _system(remove, values, missing)
    solved = spsolve(a.tocsc(), b)
    solved = torch.from_numpy(np.asarray(solved).reshape(len(missing), c).T.copy()).float()
    if noise:
        solved += noise * torch.randn(solved.shape, generator=generator)
    out.reshape(c, -1)[:, torch.from_numpy(missing)] = solved
    return out.to(image.device)


def _system(remove: np.ndarray, values: np.ndarray, missing: np.ndarray):
    """The sparse system A x = b: for each missing pixel, the weighted sum of its unknown
    neighbours minus its own value times the weight of all its in-image neighbours equals minus
    the weighted sum of its known neighbours."""
    h, w = remove.shape
    flat_remove = remove.ravel()
    index_of = np.full(h * w, -1, dtype=np.int64)
    index_of[missing] = np.arange(len(missing))
    rows, cols = np.divmod(missing, w)
    eq_rows, eq_cols, eq_vals = [], [], []
    diagonal = np.zeros(len(missing))
    b = np.zeros((len(missing), values.shape[0]))
    for (dr, dc), weight in NEIGHBOUR_WEIGHTS.items():
        r, col = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
        diagonal[inside] += weight
        eq = np.flatnonzero(inside)
        neighbour = r[inside] * w + col[inside]
        unknown = flat_remove[neighbour]
        eq_rows.append(eq[unknown])
        eq_cols.append(index_of[neighbour[unknown]])
        eq_vals.append(np.full(int(unknown.sum()), weight))
        b[eq[~unknown]] -= weight * values[:, neighbour[~unknown]].T
    n = len(missing)
    rows_all = np.concatenate(eq_rows + [np.arange(n)])
    cols_all = np.concatenate(eq_cols + [np.arange(n)])
    vals_all = np.concatenate(eq_vals + [-diagonal])
    return coo_array((vals_all, (rows_all, cols_all)), shape=(n, n)), b


def removal_mask(saliency: Tensor, percentage: float, order: str) -> Tensor:
    """Which pixels ROAD removes (H x W bool) at `percentage` % in `order` ("morf" or "lerf")."""
    m = saliency.detach().float().cpu().numpy()
    if order == "morf":
        return torch.from_numpy(~(m < np.percentile(m, 100 - percentage)))
    if order == "lerf":
        inverted = 1 - m
        return torch.from_numpy(~(inverted < np.percentile(inverted, 100 - percentage)))
    raise ValueError(f"order must be 'morf' or 'lerf', not {order!r}")


@dataclass(frozen=True)
class RoadCurves:
    """Class probabilities after ROAD imputation: N images x P percentages, per order."""

    percentages: tuple[float, ...]
    morf: Tensor  # most relevant removed first: a good map makes it fall fast
    lerf: Tensor  # least relevant removed first: a good map keeps it high
    original: Tensor  # (N,) the probability on the untouched image

    def morf_mean(self) -> Tensor:
        return self.morf.mean(1)

    def lerf_mean(self) -> Tensor:
        return self.lerf.mean(1)

    def combined(self) -> Tensor:
        """(LeRF mean - MoRF mean) / 2 per image: higher is better (pytorch-grad-cam's ROADCombined)."""
        return (self.lerf_mean() - self.morf_mean()) / 2


def road(model: nn.Module, images: Tensor, maps: Tensor, targets=None,
         percentages: Sequence[float] = DEFAULT_PERCENTAGES, *, noise: float = DEFAULT_NOISE,
         seed: int = 0, batch_size: int = 32) -> RoadCurves:
    """ROAD curves for N normalised images (N x 3 x H x W) and their maps (N x H x W at the
    image's size). targets: classes to follow (default: each image's prediction). Imputation is
    seeded: the same call gives the same curves."""
    percentages = tuple(float(p) for p in percentages)
    if not percentages or any(not 0 < p < 100 for p in percentages):
        raise ValueError(f"percentages must lie strictly between 0 and 100, not {percentages}")
    if images.dim() != 4 or maps.shape[0] != images.shape[0] or tuple(maps.shape[-2:]) != tuple(images.shape[-2:]):
        raise ValueError(f"need N x 3 x H x W images and N x H x W maps, not {tuple(images.shape)} "
                         f"and {tuple(maps.shape)}")
    device = model_device(model, images.device)[0]
    generator = torch.Generator().manual_seed(seed)
    with explaining(model), torch.no_grad():  # eval mode, restored afterwards
        first = torch.softmax(model(images.to(device)).float(), 1)
        targets = first.argmax(1) if targets is None else torch.as_tensor(targets, device=device).reshape(-1)
        targets = targets.expand(images.shape[0]) if targets.numel() == 1 else targets
        pictures = [impute(images[i], removal_mask(maps[i].reshape(maps.shape[-2:]), p, order),
                           noise, generator)
                    for order in ("morf", "lerf") for i in range(images.shape[0]) for p in percentages]
        probs = torch.cat([torch.softmax(model(torch.stack(pictures[k:k + batch_size]).to(device)).float(), 1)
                           for k in range(0, len(pictures), batch_size)])
    n, p = images.shape[0], len(percentages)
    picked = probs.reshape(2, n, p, -1).gather(3, targets.reshape(1, n, 1, 1).expand(2, n, p, 1))[..., 0]
    return RoadCurves(percentages, picked[0].cpu(), picked[1].cpu(), first.gather(1, targets[:, None])[:, 0].cpu())
