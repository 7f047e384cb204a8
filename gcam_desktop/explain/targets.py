"""Which classes to explain: the prediction, the top k, one class for all, or one per image."""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import Tensor


def check_request(targets: Any, top_k: Any) -> int:
    """Checks what can be checked before the forward pass; returns top_k as an int."""
    try:
        if isinstance(top_k, bool):
            raise TypeError
        k = operator.index(top_k)  # ints, numpy ints, 0-d integer tensors
    except TypeError:
        raise ValueError(f"top_k must be a positive integer, not {top_k!r}") from None
    if k < 1:
        raise ValueError(f"top_k must be at least 1, not {k}")
    if targets is not None and k != 1:
        raise ValueError("give either targets (the classes to explain) or top_k (the k most probable "
                         "classes), not both")
    return k


def resolve_targets(targets: Any, top_k: int, logits: Tensor) -> Tensor:
    """N x K long tensor of class indices, on the logits' device.

    targets: None (the top_k most probable classes, most probable first), an int (that class
    for every image), a sequence of N ints (one per image) or an N x K nested sequence / tensor.
    """
    n, num_classes = logits.shape
    if targets is None:
        if top_k > num_classes:
            raise ValueError(f"top_k={top_k} is more than the model's {num_classes} classes")
        return logits.detach().topk(top_k, dim=1).indices
    if isinstance(targets, bool):
        raise ValueError(f"targets must be class indices, not {targets!r}")
    try:
        t = torch.as_tensor(targets.tolist() if isinstance(targets, Tensor) else targets)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"targets must be an int, one int per image or N x K ints, not {targets!r}") from exc
    if t.dtype == torch.bool or t.is_complex() or (t.is_floating_point() and not torch.equal(t, t.round())):
        raise ValueError(f"targets must be class indices (integers), not {targets!r}")
    t = t.long()
    if t.dim() == 0:
        t = t.expand(n).unsqueeze(1)
    elif t.dim() == 1:
        if t.numel() != n:
            raise ValueError(f"{t.numel()} targets for {n} images: give one class per image, "
                             f"or one int for all of them")
        t = t.unsqueeze(1)
    elif t.dim() == 2:
        if t.shape[0] != n or t.shape[1] < 1:
            raise ValueError(f"targets of shape {tuple(t.shape)} for {n} images: expected {n} x K")
    else:
        raise ValueError(f"targets must be an int, one int per image or N x K ints, not a "
                         f"{t.dim()}-d array")
    bad = t[(t < 0) | (t >= num_classes)]
    if bad.numel():
        raise ValueError(f"class {int(bad[0])} does not exist: valid classes are 0..{num_classes - 1} "
                         f"({num_classes} classes)")
    return t.to(logits.device)
