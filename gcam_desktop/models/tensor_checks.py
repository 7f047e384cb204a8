"""A state dict's tensors as the model computes with them, checked once when a file is read.

Precision comes from the device, never from the file: every floating tensor is held in
float32, the dtype the models are built in. A float64 file crashed gcam-evaluate ("Input type
(torch.FloatTensor) and weight type (torch.DoubleTensor)"); float16 / bfloat16 files ran in
that precision on the CPU, 20x slower. Lower precision is chosen where a model runs (the
trainer's AMP on CUDA), not by the file.

A NaN or infinity anywhere in the weights gives NaN maps for every image; a negative
BatchNorm running_var gives NaN through its square root. Both are refused here, naming the
first bad tensor.
"""

from __future__ import annotations

import os
from typing import Mapping

import torch

from .meta import CheckpointError

_COUNTERS = ("num_batches_tracked",)  # BatchNorm's step counter: the one integer tensor models hold


def as_checked_float32(path: str | os.PathLike, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`sd` with floating tensors in float32 (no copy when they are already); CheckpointError
    for an integer tensor where weights belong, a non-finite value or a negative variance."""
    out = {}
    for key, t in sd.items():
        if t.is_floating_point():
            stored, t = t, t.float()
            if not _all_finite(t):
                if stored.dtype == torch.float64 and _all_finite(stored):
                    raise CheckpointError(path, f"tensor {key!r} holds values beyond the range of float32, "
                                                f"the precision the model computes in")
                raise CheckpointError(path, f"tensor {key!r} holds NaN or infinite values (a diverged or damaged "
                                            f"run?); its maps would all be NaN")
            if key.endswith("running_var") and t.numel() and float(t.min()) < 0:
                raise CheckpointError(path, f"tensor {key!r} has negative values; a variance cannot be "
                                            f"negative (damaged file)")
        elif key.rsplit(".", 1)[-1] not in _COUNTERS:
            raise CheckpointError(path, f"tensor {key!r} is {str(t.dtype).removeprefix('torch.')}, but the model "
                                        f"needs floating-point weights (a quantized export?); save it in float32")
        out[key] = t
    return out


def _all_finite(t: torch.Tensor) -> bool:
    # A sum is finite only if every value is; one reduction costs ~8 ms for a ResNet50 (28 M
    # values) on a 2-core CPU, against ~200 ms to load it (torch.isfinite(t).all() allocates a
    # mask per tensor: ~55 ms). A sum that overflows with finite values is checked exactly.
    if t.numel() == 0 or torch.isfinite(t.sum()):
        return True
    return bool(torch.isfinite(t).all())
