"""How good is an explanation map? Quantitative metrics from the literature. Qt-free.

- deletion / insertion (Petsiuk et al. 2018, RISE): remove (or reveal) pixels in the order of
  the map's importance and integrate the target-class probability over the fraction of pixels
  changed. A good map makes deletion fall fast (low AUC) and insertion rise fast (high AUC).
- pointing game (Zhang et al. 2016): does the map's maximum fall on the object (within 15 px
  at 224 x 224, scaled with the image)?
- energy in mask: the share of the map's positive energy that lies on the object.
- average drop / increase in confidence (Chattopadhay et al. 2018, Grad-CAM++): the model's
  confidence when it sees only what the map keeps (image * map).
- top-region IoU: how much two maps agree on their most important pixels.

Inputs are plain tensors: `images` are the model's normalised inputs (N x 3 x H x W), `maps`
N x H x W or N x 1 x H x W (any resolution; resized bilinearly where needed), `masks` N x H' x W'
booleans at any resolution (the map is stretched over the mask, as over the image for display).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model_state import model_device
from .names import TOP_FRACTION

POINTING_TOLERANCE_PX = 15.0  # at 224 x 224, the value used since Zhang et al. (2016)
POINTING_REFERENCE_SIZE = 224.0
DEFAULT_STEPS = 50
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Curves:
    """Deletion or insertion curves of N images over S steps."""

    fractions: Tensor  # (S+1,) share of pixels removed (deletion) or revealed (insertion)
    probs: Tensor      # (N, S+1) probability of the target class at each step
    auc: Tensor        # (N,) trapezoid area under each curve, over fractions in [0, 1]
    targets: Tensor    # (N,) the class whose probability was followed

    @property
    def steps(self) -> int:
        return int(self.fractions.numel()) - 1


@dataclass(frozen=True)
class ConfidenceChange:
    """What happens to the target probability when the image is multiplied by its map."""

    probs: Tensor         # (N,) Y: probability on the full image
    masked_probs: Tensor  # (N,) O: probability on image * map
    drop: Tensor          # (N,) max(0, Y - O) / Y * 100, per image (percent)
    increase: Tensor      # (N,) bool, O > Y

    @property
    def average_drop(self) -> float:
        return float(self.drop.mean()) if self.drop.numel() else math.nan

    @property
    def increase_in_confidence(self) -> float:
        """Percent of images whose confidence rose."""
        return float(self.increase.float().mean() * 100) if self.increase.numel() else math.nan


# ---------------------------------------------------------------------------------------- inputs

def _as_maps(maps: Tensor, n: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
    """(N, H, W) float32 from (N, H, W) or (N, 1, H, W), resized to `size` if given."""
    maps = torch.as_tensor(maps)
    if maps.dim() == 4:
        if maps.shape[1] != 1:
            raise ValueError(f"maps must be N x H x W or N x 1 x H x W, got {tuple(maps.shape)} "
                             "(pick one map per image, e.g. Explanation.maps[:, 0])")
        maps = maps[:, 0]
    elif maps.dim() == 2:
        maps = maps.unsqueeze(0)
    if maps.dim() != 3:
        raise ValueError(f"maps must be N x H x W or N x 1 x H x W, got {tuple(maps.shape)}")
    if n is not None and maps.shape[0] != n:
        raise ValueError(f"{maps.shape[0]} maps for {n} images")
    maps = maps.float()
    if size is not None and tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return maps


def _as_masks(masks: Tensor, n: int) -> Tensor:
    masks = torch.as_tensor(masks)
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    elif masks.dim() == 2:
        masks = masks.unsqueeze(0)
    if masks.dim() != 3 or masks.shape[0] != n:
        raise ValueError(f"masks must be N x H x W for {n} maps, got {tuple(masks.shape)}")
    return masks.bool() if masks.dtype == torch.bool else masks > 0.5 if masks.is_floating_point() else masks > 0


def _as_targets(targets, n: int, device) -> Tensor | None:
    if targets is None:
        return None
    t = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1 and n != 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{t.numel()} targets for {n} images")
    return t.contiguous()


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm must not use the statistics of a batch of perturbed copies) and
    no autograd, restoring the caller's mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def _softmax_probs(model: nn.Module, x: Tensor) -> Tensor:
    return torch.softmax(model(x).float(), dim=1)


def _probs_and_targets(model, images, probs, targets, batch_size, device):
    """The unperturbed images' probabilities (given, e.g. Explanation.probs, or computed) and
    the classes to score (given, or each image's prediction)."""
    if probs is None:
        probs = _batched_probs(model, images, batch_size)
    probs = torch.as_tensor(probs, device=device).float()
    if targets is None:
        targets = probs.argmax(dim=1)
    return probs, targets


def _batched_probs(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    return torch.cat([_softmax_probs(model, x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


# ------------------------------------------------------------------------------------- ordering

def pixel_ranks(maps: Tensor, seed: int = 0) -> Tensor:
    """(N, H*W) long: each pixel's place in the map's order of importance (0 = most important).

    Ties (flat regions, a map that is all zero) are broken by a fixed random permutation,
    not by raster order: raster order would remove the top rows first, a bias of its own.
    """
    maps = _as_maps(maps)
    flat = maps.flatten(1)
    hw = flat.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(hw, generator=g).to(flat.device)
    order_in_perm = torch.argsort(flat[:, perm], dim=1, descending=True, stable=True)
    order = perm[order_in_perm]
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(hw, device=flat.device).expand_as(order).contiguous())
    return ranks


def step_counts(num_pixels: int, steps: int) -> Tensor:
    """Pixels changed after step k = 0..S: round(k * HW / S), so step S changes all of them."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    k = torch.arange(steps + 1, dtype=torch.long)
    return (k * num_pixels + steps // 2) // steps


def gaussian_blur(images: Tensor, sigma: float | None = None) -> Tensor:
    """Separable Gaussian blur, reflect-padded. Default: RISE's insertion start (sigma 5, an
    11-tap kernel at 224 px), scaled with the image size."""
    n, c, h, w = images.shape
    if sigma is None:
        sigma = 5.0 * math.sqrt(h * w) / POINTING_REFERENCE_SIZE
    radius = max(1, min(int(round(sigma)), (min(h, w) - 1)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
    k = torch.exp(-0.5 * (x / max(sigma, 1e-6)) ** 2)
    k = (k / k.sum()).to(images.dtype)
    out = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _baseline(images: Tensor, baseline) -> Tensor:
    """What a removed pixel becomes (deletion) or what the picture starts from (insertion)."""
    if isinstance(baseline, str):
        if baseline == "zero":  # zero in normalised space = the training set's mean colour
            return torch.zeros_like(images)
        if baseline == "blur":
            return gaussian_blur(images)
        if baseline == "mean":  # each image's own mean colour
            return images.mean(dim=(2, 3), keepdim=True).expand_as(images).contiguous()
        raise ValueError(f"unknown baseline {baseline!r}; use 'zero', 'blur', 'mean' or a tensor")
    b = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
    return b.expand_as(images).contiguous()


# ---------------------------------------------------------------------------- deletion/insertion

@dataclass
class _Plan:
    """One kind of curve: the picture at step k is where(rank < counts[k], end, start)."""

    start: Tensor
    end: Tensor
    out: Tensor  # (N, S+1) filled as forwards come back


def deletion_insertion(model: nn.Module, images: Tensor, maps: Tensor, targets=None,
                       steps: int = DEFAULT_STEPS, *, deletion_baseline="zero",
                       insertion_baseline="blur", batch_size: int = DEFAULT_BATCH_SIZE,
                       probs: Tensor | None = None, seed: int = 0,
                       kinds: Sequence[str] = ("deletion", "insertion")) -> dict[str, Curves]:
    """Deletion and insertion curves of each image in one stream of batched forwards.

    images: the model's normalised inputs (N x 3 x H x W); maps: one map per image (N x H x W or
    N x 1 x H x W, resized to H x W if needed); targets: classes to follow (default: the model's
    prediction on the full image). `probs` (N x C softmax on the full images, e.g.
    `Explanation.probs`) saves the forward of the unperturbed images: deletion's first and
    insertion's last picture are the image itself, so S steps of both cost exactly 2*S images,
    run `batch_size` at a time under no_grad. Returns {"deletion": Curves, "insertion": Curves}
    (only the kinds asked for).
    """
    kinds = tuple(kinds)
    if not kinds or any(k not in ("deletion", "insertion") for k in kinds):
        raise ValueError(f"kinds must name 'deletion' and/or 'insertion', not {kinds}")
    if images.dim() != 4:
        raise ValueError(f"images must be N x C x H x W, got {tuple(images.shape)}")
    n, _, h, w = images.shape
    device = model_device(model, images.device)[0]
    images = images.to(device)
    batch_size = max(1, int(batch_size))
    ranks = pixel_ranks(_as_maps(maps, n, (h, w)).to(device), seed=seed).view(n, 1, h, w)
    counts = step_counts(h * w, steps)
    fractions = counts.double() / (h * w)
    counts_dev = counts.to(device)
    targets = _as_targets(targets, n, device)

    with _evaluating(model):
        probs, targets = _probs_and_targets(model, images, probs, targets, batch_size, device)
        clean = probs.gather(1, targets.view(-1, 1))[:, 0].cpu()

        plans: dict[str, _Plan] = {}
        jobs: list[tuple[str, int, int]] = []  # (kind, image, step) pictures that need a forward
        for kind in kinds:
            out = torch.empty(n, steps + 1, dtype=torch.float64)
            if kind == "deletion":
                plans[kind] = _Plan(images, _baseline(images, deletion_baseline), out)
                out[:, 0] = clean
                jobs += [(kind, i, k) for i in range(n) for k in range(1, steps + 1)]
            else:
                plans[kind] = _Plan(_baseline(images, insertion_baseline), images, out)
                out[:, steps] = clean
                jobs += [(kind, i, k) for i in range(n) for k in range(steps)]

        # Pictures are written into one reused buffer, a run of steps of one image at a time:
        # where() broadcasts that image against its step thresholds, so nothing is gathered,
        # copied or concatenated besides the pictures themselves.
        buf = torch.empty((min(batch_size, len(jobs)),) + tuple(images.shape[1:]), dtype=images.dtype,
                          device=device)
        for lo in range(0, len(jobs), batch_size):
            chunk = jobs[lo:lo + batch_size]
            a = 0
            for (kind, i), run in itertools.groupby(chunk, key=lambda job: job[:2]):
                ks = [k for _, _, k in run]
                plan = plans[kind]
                changed = ranks[i] < counts_dev[ks[0]:ks[-1] + 1].view(-1, 1, 1, 1)
                torch.where(changed, plan.end[i], plan.start[i], out=buf[a:a + len(ks)])
                a += len(ks)
            p = _softmax_probs(model, buf[:a])
            rows = torch.tensor([i for _, i, _ in chunk], device=device)
            got = p.gather(1, targets[rows].view(-1, 1))[:, 0].double().cpu().tolist()
            for (kind, i, k), value in zip(chunk, got):
                plans[kind].out[i, k] = value

    result = {}
    for kind in kinds:
        curve = plans[kind].out
        auc = torch.trapezoid(curve, fractions, dim=1)
        result[kind] = Curves(fractions=fractions, probs=curve, auc=auc, targets=targets.cpu())
    return result


def deletion_auc(model: nn.Module, images: Tensor, maps: Tensor, targets=None, steps: int = DEFAULT_STEPS,
                 *, baseline="zero", batch_size: int = DEFAULT_BATCH_SIZE, probs: Tensor | None = None,
                 seed: int = 0) -> Curves:
    """Deletion curves: most important pixels first become `baseline` ("zero" = mean colour in
    normalised space, "blur", "mean" or a tensor). Lower AUC = better map."""
    return deletion_insertion(model, images, maps, targets, steps, deletion_baseline=baseline,
                              batch_size=batch_size, probs=probs, seed=seed, kinds=("deletion",))["deletion"]


def insertion_auc(model: nn.Module, images: Tensor, maps: Tensor, targets=None, steps: int = DEFAULT_STEPS,
                  *, baseline="blur", batch_size: int = DEFAULT_BATCH_SIZE, probs: Tensor | None = None,
                  seed: int = 0) -> Curves:
    """Insertion curves: from `baseline` (default a blurred copy, as in RISE), the most
    important pixels of the real image are revealed first. Higher AUC = better map."""
    return deletion_insertion(model, images, maps, targets, steps, insertion_baseline=baseline,
                              batch_size=batch_size, probs=probs, seed=seed, kinds=("insertion",))["insertion"]


# ------------------------------------------------------------------------------ map vs. mask

def pointing_tolerance(height: int, width: int) -> float:
    """15 px at 224 x 224, scaled with the (geometric mean) side of the image."""
    return POINTING_TOLERANCE_PX * math.sqrt(height * width) / POINTING_REFERENCE_SIZE


def peak_points(maps: Tensor) -> Tensor:
    """(N, 2) float (y, x): where each map is highest. Where the maximum is a plateau (an
    upsampled coarse map is flat out to the border past its last cell centre), the plateau
    pixel nearest the plateau's centroid, not the first in raster order, which would sit in
    the plateau's top-left corner and drag the point towards the image's edge."""
    maps = _as_maps(maps)
    n, h, w = maps.shape
    flat = maps.flatten(1).cpu()
    top = flat.max(dim=1, keepdim=True).values
    span = top - flat.min(dim=1, keepdim=True).values
    on_top = flat >= top - 1e-6 * span.clamp(min=1e-12)
    out = torch.empty(n, 2)
    for i in range(n):
        idx = torch.nonzero(on_top[i], as_tuple=True)[0]
        ys, xs = (idx // w).float(), (idx % w).float()
        j = ((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2).argmin()
        out[i, 0], out[i, 1] = ys[j], xs[j]
    return out


def pointing_game(maps: Tensor, masks: Tensor, tolerance: float | None = None) -> Tensor:
    """(N,) float: 1.0 where the map's maximum lies within `tolerance` pixels of the object mask,
    else 0.0; NaN where the mask is empty (no object: the image does not count).

    The map is stretched over the mask's resolution first (masks come at the image's size).
    A flat map has no maximum to point with and counts as a miss; a plateau maximum points
    from its middle (peak_points). Tolerance defaults to 15 px at 224 x 224, scaled with the
    image size.
    """
    masks_b = _as_masks(masks, torch.as_tensor(maps).shape[0])
    n, h, w = masks_b.shape
    maps = _as_maps(maps, n, (h, w))
    tol = pointing_tolerance(h, w) if tolerance is None else float(tolerance)
    flat = maps.flatten(1)
    flat_map = ((flat.max(dim=1).values - flat.min(dim=1).values) <= 0).cpu()
    points = peak_points(maps)
    out = torch.empty(n, dtype=torch.float32)
    for i in range(n):
        ys, xs = torch.nonzero(masks_b[i].cpu(), as_tuple=True)
        if ys.numel() == 0:
            out[i] = math.nan
        elif flat_map[i]:
            out[i] = 0.0
        else:
            d2 = (ys.float() - points[i, 0]) ** 2 + (xs.float() - points[i, 1]) ** 2
            out[i] = float(d2.min() <= tol * tol)
    return out


def energy_in_mask(maps: Tensor, masks: Tensor) -> Tensor:
    """(N,) share of each map's positive energy inside the mask, in [0, 1] (Wang et al.'s
    energy-based pointing game). A map with no positive energy puts none on the object: 0.
    NaN where the mask is empty."""
    masks_b = _as_masks(masks, torch.as_tensor(maps).shape[0])
    n, h, w = masks_b.shape
    pos = _as_maps(maps, n, (h, w)).clamp(min=0).double()
    inside = (pos * masks_b.to(pos.device)).flatten(1).sum(1)
    total = pos.flatten(1).sum(1)
    share = torch.where(total > 0, inside / total.clamp(min=1e-300), torch.zeros_like(total))
    empty = ~masks_b.flatten(1).any(1).to(share.device)
    return share.masked_fill(empty, math.nan).float().cpu()


def top_region_iou(maps_a: Tensor, maps_b: Tensor, fraction: float = TOP_FRACTION, seed: int = 0) -> Tensor:
    """(N,) IoU of the top `fraction` most important pixels of two maps per image (compared on
    the larger of the two grids). 1 = same region, about fraction/(2-fraction) for unrelated maps."""
    a, b = _as_maps(maps_a), _as_maps(maps_b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{a.shape[0]} maps vs {b.shape[0]} maps")
    size = max(tuple(a.shape[-2:]), tuple(b.shape[-2:]), key=lambda s: s[0] * s[1])
    a, b = _as_maps(a, size=size), _as_maps(b, size=size)
    k = max(1, int(round(fraction * size[0] * size[1])))
    top_a = pixel_ranks(a, seed) < k
    top_b = pixel_ranks(b, seed) < k
    inter = (top_a & top_b).sum(1).double()
    union = (top_a | top_b).sum(1).double()
    return (inter / union).float().cpu()


# ----------------------------------------------------------------------- confidence (Grad-CAM++)

def confidence_change(model: nn.Module, images: Tensor, maps: Tensor, targets=None, *,
                      probs: Tensor | None = None, mean: Sequence[float] | None = None,
                      std: Sequence[float] | None = None,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> ConfidenceChange:
    """Average drop and increase in confidence (Chattopadhay et al. 2018).

    The model sees image * map. With `mean` and `std` (the checkpoint's normalisation) the
    product is taken in pixel space, as in the paper (what the map drops turns black); without,
    in normalised space (it turns the mean colour, as pytorch-grad-cam does). Maps should lie
    in [0, 1] (Explanation.maps do).
    """
    if images.dim() != 4:
        raise ValueError(f"images must be N x C x H x W, got {tuple(images.shape)}")
    n, c, h, w = images.shape
    device = model_device(model, images.device)[0]
    images = images.to(device)
    m = _as_maps(maps, n, (h, w)).to(device).unsqueeze(1).to(images.dtype)
    if mean is not None and std is not None:
        mean_t = torch.as_tensor(mean, dtype=images.dtype, device=device).view(1, c, 1, 1)
        std_t = torch.as_tensor(std, dtype=images.dtype, device=device).view(1, c, 1, 1)
        masked = ((images * std_t + mean_t) * m - mean_t) / std_t
    else:
        masked = images * m
    targets = _as_targets(targets, n, device)
    with _evaluating(model):
        probs, targets = _probs_and_targets(model, images, probs, targets, batch_size, device)
        y = probs.gather(1, targets.view(-1, 1))[:, 0]
        o = _batched_probs(model, masked, batch_size).gather(1, targets.view(-1, 1))[:, 0]
    drop = (y - o).clamp(min=0) / y.clamp(min=1e-12) * 100
    return ConfidenceChange(probs=y.cpu(), masked_probs=o.cpu(), drop=drop.cpu(), increase=(o > y).cpu())


def average_drop(model: nn.Module, images: Tensor, maps: Tensor, targets=None, **kwargs) -> float:
    """Mean over images of max(0, Y - O) / Y, in percent (lower = the map keeps what matters)."""
    return confidence_change(model, images, maps, targets, **kwargs).average_drop


def increase_in_confidence(model: nn.Module, images: Tensor, maps: Tensor, targets=None, **kwargs) -> float:
    """Percent of images whose target probability rises when only the map's region is shown."""
    return confidence_change(model, images, maps, targets, **kwargs).increase_in_confidence
