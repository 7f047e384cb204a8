"""The perturbation family, at the input's resolution: occlusion and RISE. Both ask the model
only for its scores on changed copies of the image (no gradient), so they see what the model
does, not what its gradient says; they cost many forwards, run in batches of `batch_size`
copies (memory stays bounded by the batch, not by the copies' count) and report progress
through explain/progress.py after each batch, so a caller can show it and stop them.

The K targets of a top-k request share every forward: one forward gives all the scores.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .gradient_methods import GradientMethod, GradientResult
from .model_state import forward_logits
from .progress import report
from .references import reference_images
from .targets import resolve_targets


def _positive_int(method: str, options: dict, name: str, least: int = 1) -> int:
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, int) and not (
            isinstance(value, float) and value.is_integer()):
        raise ValueError(f"{method} {name} must be a whole number, not {value!r}")
    if int(value) < least:
        raise ValueError(f"{method} needs {name} >= {least}, not {value}")
    return int(value)


def _scores(model, batch: Tensor) -> Tensor:
    with torch.no_grad():
        return forward_logits(model, batch).float()


class Occlusion(GradientMethod):
    """Zeiler & Fergus 2014, as Captum's `Occlusion` computes it: a `patch` x `patch` window
    (all colour channels) slides over the image by `stride`; each window's pixels become the
    `fill` ("mean": the model's mean colour, 0 in normalised space; "blur": a strongly blurred
    copy of the image; "zero": pixel value 0), and every pixel of the window receives the drop
    of the target's score (logit), score(x) - score(occluded). A pixel's value is the mean over
    the windows that covered it. Windows start at 0, stride, 2 stride, ... until one reaches
    the far edge (the last may be cut off there), so every pixel is covered. Signed: a window
    whose removal raises the score gets a negative drop."""

    name = "occlusion"
    options = {"patch": 32, "stride": 16, "fill": "mean", "batch_size": 32}

    def run(self, model, x, targets, top_k, options):
        patch = _positive_int(self.name, options, "patch")
        stride = _positive_int(self.name, options, "stride")
        batch_size = _positive_int(self.name, options, "batch_size")
        n, _, h, w = x.shape
        if patch > min(h, w):
            raise ValueError(f"occlusion patch {patch} is larger than the {h} x {w} image; "
                             f"use at most {min(h, w)}")
        if stride > patch:
            raise ValueError(f"occlusion stride {stride} would skip pixels: use a stride <= the patch ({patch})")
        fill = reference_images(options["fill"], model, x, "occlusion fill", ("mean", "blur", "zero"))
        logits = _scores(model, x)
        classes = resolve_targets(targets, top_k, logits)
        base = logits.gather(1, classes)  # N x K
        windows = [(top, left) for top in _starts(h, patch, stride) for left in _starts(w, patch, stride)]
        rows = [(i, win) for i in range(n) for win in windows]
        drop = torch.zeros(n, classes.shape[1], h, w, device=x.device)
        count = torch.zeros(h, w, device=x.device)
        for top, left in windows:
            count[top:top + patch, left:left + patch] += 1
        done = 0
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            batch = x[[i for i, _ in chunk]].clone()
            for b, (i, (top, left)) in enumerate(chunk):
                batch[b, :, top:top + patch, left:left + patch] = fill[i, :, top:top + patch, left:left + patch]
            index = torch.tensor([i for i, _ in chunk], device=x.device)
            change = base[index] - _scores(model, batch).gather(1, classes[index])  # B x K
            for b, (i, (top, left)) in enumerate(chunk):
                drop[i, :, top:top + patch, left:left + patch] += change[b].view(-1, 1, 1)
            done += len(chunk)
            report(done, len(rows))
        return GradientResult(drop / count, logits, classes, signed=True)


def _starts(side: int, patch: int, stride: int) -> list[int]:
    """Captum's window positions: ceil((side - patch) / stride) + 1 of them, stride apart."""
    return [k * stride for k in range(math.ceil((side - patch) / stride) + 1)]


def rise_grids(count: int, height: int, width: int, cell: int, keep: float, seed: int) -> tuple[Tensor, Tensor]:
    """RISE's random draws: `count` binary grids of ceil(H / cell) x ceil(W / cell) cells, each
    cell kept with probability `keep`, and a (dy, dx) shift in [0, cell) per mask. Drawn from
    a CPU generator seeded with `seed`: the same masks on any device."""
    gen = torch.Generator().manual_seed(int(seed))
    grids = (torch.rand(count, 1, math.ceil(height / cell), math.ceil(width / cell), generator=gen) < keep).float()
    shifts = torch.randint(0, cell, (count, 2), generator=gen)
    return grids, shifts


def rise_masks(grids: Tensor, shifts: Tensor, height: int, width: int, cell: int) -> Tensor:
    """Petsiuk et al.'s smooth masks: each grid upsampled bilinearly to (cells + 1) x cell pixels
    per side and cropped to H x W at its shift. B x 1 x H x W in [0, 1]."""
    sh, sw = grids.shape[-2:]
    up = F.interpolate(grids, size=((sh + 1) * cell, (sw + 1) * cell), mode="bilinear", align_corners=False)
    return torch.stack([up[b, :, dy:dy + height, dx:dx + width] for b, (dy, dx) in enumerate(shifts.tolist())])


class Rise(GradientMethod):
    """Petsiuk et al. 2018: the image times `masks` random smooth masks (`rise_masks`, grid cell
    `cell` px, each cell kept with probability `keep`, seeded by `seed`); the map is the masks
    weighted by the target's probability on each masked copy, sum_i P_i M_i / (N keep): the
    expected score given that a pixel was kept. Masked-out pixels become 0 in normalised space
    (the mean colour), as in the authors' PyTorch code. Non-negative."""

    name = "rise"
    options = {"masks": 500, "cell": 32, "keep": 0.5, "seed": 0, "batch_size": 32}

    def run(self, model, x, targets, top_k, options):
        count = _positive_int(self.name, options, "masks")
        cell = _positive_int(self.name, options, "cell")
        batch_size = _positive_int(self.name, options, "batch_size")
        keep = options["keep"]
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
            raise ValueError(f"rise keep must be a probability in (0, 1], not {keep!r}")
        n, _, h, w = x.shape
        logits = _scores(model, x)
        classes = resolve_targets(targets, top_k, logits)
        grids, shifts = rise_grids(count, h, w, cell, float(keep), options["seed"])
        acc = torch.zeros(n, classes.shape[1], h, w, device=x.device)
        # Each batch of masks is applied to every image, so a mask is upsampled once per call.
        per_batch = max(1, batch_size // n)
        total, done = count * n, 0
        for start in range(0, count, per_batch):
            masks = rise_masks(grids[start:start + per_batch], shifts[start:start + per_batch], h, w, cell)
            masks = masks.to(x.device, x.dtype)  # B x 1 x H x W
            b = masks.shape[0]
            masked = (x.unsqueeze(1) * masks.unsqueeze(0)).flatten(0, 1)  # (N B) x 3 x H x W
            probs = torch.softmax(_scores(model, masked), 1).view(n, b, -1)
            p = probs.gather(2, classes.unsqueeze(1).expand(n, b, classes.shape[1]))  # N x B x K
            acc += torch.einsum("nbk,bhw->nkhw", p, masks[:, 0].float())
            done += n * b
            report(done, total)
        return GradientResult(acc / (count * float(keep)), logits, classes)


PERTURBATION_IMPLS: dict[str, GradientMethod] = {m.name: m for m in (Occlusion(), Rise())}
