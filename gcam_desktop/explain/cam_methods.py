"""The CAM family. Each method says only how it weighs the channels of the layer's activation A
(N x C x h x w); Score-CAM and Eigen-CAM say how they score them. Hooks, targets, batching,
upsampling and normalisation live in `engine.py`, once.

Every map is ReLU(sum over channels of weight * A), at the layer's resolution, one per target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model_state import forward_logits

_EPS = 1e-7


@dataclass
class CamInputs:
    """What a CAM method may use. For the gradient CAMs `acts` is the leaf the autograd graph
    starts at and `logits` hang off it; for the others both are plain tensors."""

    model: nn.Module
    images: Tensor  # N x 3 x H x W, the model's input
    acts: Tensor  # N x C x h x w
    logits: Tensor  # N x num_classes
    classes: Tensor  # N x K, the classes to explain
    layer: str
    options: dict[str, Any] = field(default_factory=dict)

    def gradients(self) -> Iterator[Tensor]:
        """d score_c / d A for each of the K targets in turn (N x C x h x w, float32).

        One backward per target through the part of the model after the layer only (the graph
        starts at A). The K backwards share one forward. Summing the scores over the batch
        gives each image its own gradient: in eval mode images do not interact.
        """
        k_count = self.classes.shape[1]
        for k in range(k_count):
            score = self.logits.gather(1, self.classes[:, k:k + 1]).sum()
            grad = None
            if score.requires_grad:
                (grad,) = torch.autograd.grad(score, self.acts, retain_graph=k < k_count - 1,
                                              allow_unused=True)
            yield torch.zeros_like(self.acts, dtype=torch.float32) if grad is None else grad.float()


def combine(weights: Tensor, acts: Tensor) -> Tensor:
    """ReLU(sum_c w_c * A_c): weights N x K x C (per channel) -> maps N x K x h x w."""
    return torch.relu(torch.einsum("nkc,nchw->nkhw", weights, acts))


class CamMethod:
    name: ClassVar[str] = ""
    uses_gradients: ClassVar[bool] = True
    options: ClassVar[dict[str, Any]] = {}

    def weights(self, acts: Tensor, grads: Tensor) -> Tensor:
        """Per-channel (N x C x 1 x 1) or per-position (N x C x h x w) weights of A."""
        raise NotImplementedError

    def raw_maps(self, inp: CamInputs) -> Tensor:
        acts = inp.acts.detach().float()
        maps = [(self.weights(acts, g) * acts).sum(1) for g in inp.gradients()]
        return torch.relu(torch.stack(maps, 1))


class GradCAM(CamMethod):
    """Selvaraju et al. 2017: alpha_k = mean over i,j of d y_c / d A_k(i,j)."""

    name = "gradcam"

    def weights(self, acts, grads):
        return grads.mean((2, 3), keepdim=True)


class GradCAMPlusPlus(CamMethod):
    """Chattopadhay et al. 2018, with the exponential-score closed form of alpha."""

    name = "gradcam++"

    def weights(self, acts, grads):
        g2 = grads.pow(2)
        g3 = g2 * grads
        denom = 2 * g2 + acts.sum((2, 3), keepdim=True) * g3
        alpha = torch.where(grads != 0, g2 / (denom + 1e-6), torch.zeros_like(grads))
        return (alpha * torch.relu(grads)).sum((2, 3), keepdim=True)


class XGradCAM(CamMethod):
    """Fu et al. 2020: alpha_k = sum_ij A_k(i,j) / sum_ij A_k * d y_c / d A_k(i,j)."""

    name = "xgradcam"

    def weights(self, acts, grads):
        return (grads * acts).sum((2, 3), keepdim=True) / (acts.sum((2, 3), keepdim=True) + _EPS)


class HiResCAM(CamMethod):
    """Draelos & Carin 2020: the gradient itself, position by position (no averaging)."""

    name = "hirescam"

    def weights(self, acts, grads):
        return grads


class LayerCAM(CamMethod):
    """Jiang et al. 2021: the positive part of the gradient, position by position."""

    name = "layercam"

    def weights(self, acts, grads):
        return torch.relu(grads)


class ClassActivationMap(CamMethod):
    """Zhou et al. 2016: the classifier's weights of the class, for a global-average-pool +
    linear head fed by the explained layer. There dy_c/dA_k(i,j) = w_ck / (h*w), so `cam` is
    `gradcam` times h*w (ReLU included), with no backward at all."""

    name = "cam"
    uses_gradients = False

    def raw_maps(self, inp):
        head = linear_head(inp.model, inp.acts, inp.logits, inp.layer)
        w = head.weight.detach().float()[inp.classes]  # N x K x C
        return combine(w, inp.acts.float())


def linear_head(model: nn.Module, acts: Tensor, logits: Tensor, layer: str) -> nn.Linear:
    """The linear classifier that global-average-pooled `acts` feed straight into, verified
    numerically: the logits must be head(mean over positions of A). So a deeper head, or a
    layer that is not the last one, is refused, however the model's code is written."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features == acts.shape[1]]
    target = logits.detach().float()
    for head in reversed(linears):
        with torch.no_grad():
            predicted = head(acts.detach().to(head.weight.dtype).mean((2, 3))).float()
        if predicted.shape == target.shape and torch.allclose(
                predicted, target, rtol=1e-3, atol=1e-3 * (1.0 + float(target.abs().max()))):
            return head
    arch = getattr(model, "arch", type(model).__name__)
    default = getattr(model, "default_layer", None)
    has_gap = any(isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)) for m in model.modules())
    problem = (f"{layer!r} of {arch} is not that layer (try {default!r})"
               if has_gap and default and default != layer else
               f"{layer!r} of {arch} is not followed by such a head; use gradcam, which works with any head")
    raise ValueError(f"'cam' needs the layer whose output goes straight into a global-average-pool + "
                     f"linear classifier; {problem}")


class ScoreCAM(CamMethod):
    """Wang et al. 2020: each channel, upsampled and scaled to [0, 1], masks the input; the
    channel's weight is the softmax probability of the class for that masked input.

    One forward per channel (2048 at a ResNet50's layer4), batched by `batch_size`.
    `max_channels` keeps only the channels whose maps vary most (Faster Score-CAM); the rest
    weigh 0. Channels whose map is constant mask nothing and weigh 0, as in the authors' code.
    """

    name = "scorecam"
    uses_gradients = False
    options = {"batch_size": 32, "max_channels": None}

    def raw_maps(self, inp):
        bs = int(inp.options["batch_size"])
        if bs < 1:
            raise ValueError(f"scorecam batch_size must be at least 1, not {bs}")
        acts = inp.acts.detach()
        n, c = acts.shape[:2]
        size = inp.images.shape[-2:]
        limit = inp.options["max_channels"]
        keep = c if limit is None else max(1, min(c, int(limit)))
        if keep < c:
            # Population variance: a 1 x 1 map (a small input at layer4) has variance 0 for every
            # channel, where the sample variance was NaN (and topk's order over NaNs undefined).
            order = acts.float().flatten(2).var(2, correction=0).topk(keep, dim=1).indices  # N x keep
        else:
            order = torch.arange(c, device=acts.device).expand(n, c)
        weights = torch.zeros(n, inp.classes.shape[1], c, device=acts.device)
        with torch.no_grad():
            for i in range(n):
                for start in range(0, keep, bs):
                    idx = order[i, start:start + bs]
                    up = F.interpolate(acts[i, idx].unsqueeze(1).float(), size=size, mode="bilinear",
                                       align_corners=False)  # b x 1 x H x W
                    lo = up.amin((2, 3), keepdim=True)
                    hi = up.amax((2, 3), keepdim=True)
                    varies = (hi > lo).flatten()
                    masks = torch.where(hi > lo, (up - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(up))
                    masked = inp.images[i:i + 1] * masks.to(inp.images.dtype)
                    probs = torch.softmax(forward_logits(inp.model, masked).float(), 1)
                    w = probs[:, inp.classes[i]] * varies.unsqueeze(1)  # b x K
                    weights[i].index_copy_(1, idx, w.t())
        return combine(weights, acts.float())


class EigenCAM(CamMethod):
    """Muhammad & Yeasin 2020: A projected on its first principal component (class-agnostic:
    every target gets the same map). Centred over positions as pytorch-grad-cam does; the
    component's sign, arbitrary in an SVD, is chosen to agree with the summed activation."""

    name = "eigencam"
    uses_gradients = False

    def raw_maps(self, inp):
        acts = inp.acts.detach().float()
        n, c, h, w = acts.shape
        m = acts.flatten(2).transpose(1, 2)  # N x hw x C
        m = m - m.mean(1, keepdim=True)
        solve_on = m if m.device.type != "mps" else m.cpu()  # batched SVD is missing on MPS
        _, _, vh = torch.linalg.svd(solve_on, full_matrices=False)
        v = vh[:, 0, :].to(m.device)  # N x C, the first right-singular vector
        proj = torch.einsum("npc,nc->np", m, v)  # N x hw
        total = acts.sum(1).flatten(1)
        agree = ((proj * (total - total.mean(1, keepdim=True))).sum(1) >= 0).float() * 2 - 1
        maps = torch.relu(proj * agree.unsqueeze(1)).view(n, 1, h, w)
        return maps.expand(n, inp.classes.shape[1], h, w).contiguous()


CAM_IMPLS: dict[str, CamMethod] = {
    m.name: m for m in (GradCAM(), GradCAMPlusPlus(), XGradCAM(), HiResCAM(), LayerCAM(),
                        ScoreCAM(), EigenCAM(), ClassActivationMap())
}
