"""--sync-bn: batch norm over the global batch of all processes.

On CUDA this is PyTorch's SyncBatchNorm. PyTorch's SyncBatchNorm refuses CPU tensors (and
DistributedDataParallel refuses it in a CPU model), so on the CPU each BatchNorm2d becomes a
`GlobalBatchNorm2d`: the per-channel sums (then those of the squared deviations from the
global mean) go through all_reduce, whose backward is an all_reduce of the gradient (the
exchange SyncBatchNorm makes on CUDA), so every process normalises with the statistics of the whole global batch. Checkpoints
are unchanged: the layer is a BatchNorm2d with the same parameters and buffers.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _SumOverProcesses(torch.autograd.Function):
    @staticmethod
    def forward(ctx, group, tensor):
        ctx.group = group
        out = tensor.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return None, grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of every process's batch together."""

    group = None  # the process group the statistics are summed over

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        # Two passes, as a single-process batch norm: the global mean first, then the global sum
        # of squared deviations from it (E[x^2] - E[x]^2 would cancel catastrophically when the
        # variance is small against the mean, as in 1 x 1 maps of the last stage).
        first = _SumOverProcesses.apply(self.group, torch.cat([x.sum(dim=(0, 2, 3)), x.new_full((1,), x.numel() / c)]))
        n = first[-1]
        mean = first[:c] / n
        centred = x - mean.view(1, c, 1, 1)
        var = _SumOverProcesses.apply(self.group, (centred * centred).sum(dim=(0, 2, 3))) / n  # biased, as BN normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), alpha=m)  # unbiased
        y = centred * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def convert_sync_bn(model: nn.Module, device: torch.device) -> nn.Module:
    """The model with batch norm synchronised over all processes (call on every process alike)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    group = dist.new_group(backend="gloo")  # its own channel: never interleaved with gradient traffic
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d  # same parameters and buffers, so the same checkpoint
            module.group = group
    return model
