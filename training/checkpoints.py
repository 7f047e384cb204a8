"""Writing checkpoints without holding up training, and initialising from other weights."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from gcam_desktop.models import CheckpointError, read_checkpoint, save_checkpoint

from .state import clone_tree

log = logging.getLogger("training")


KEPT_DIR = "epochs"


def kept_path(arch_dir: Path, epoch: int) -> Path:
    """Where --keep-every keeps an epoch's weights (the checkpoint format of best.pt)."""
    return Path(arch_dir) / KEPT_DIR / f"epoch-{int(epoch):03d}.pt"


class _Snapshot:
    """Stands in for the model in save_checkpoint: a frozen copy of its state dict."""

    def __init__(self, state: Mapping[str, torch.Tensor], arch: str) -> None:
        self._state, self.arch = state, arch

    def state_dict(self) -> Mapping[str, torch.Tensor]:
        return self._state


class CheckpointWriter:
    """Writes checkpoints on one background thread, in submission order.

    The model's and optimizer's tensors are copied to the CPU first (a memcpy), so training
    goes on while the copy is serialised, fsynced and moved into place (save_checkpoint is
    atomic: a kill mid-write leaves the previous file). `on_written(path)` runs after each file
    is in place; `wait()` re-raises a failed write in the training thread.
    """

    def __init__(self, on_written: Callable[[Path, dict], None] | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending: list[Future] = []
        self._on_written = on_written

    def submit(self, path: Path, model: nn.Module, meta: dict, extra: dict | None = None,
               background: bool = True) -> None:
        arch = meta.get("arch") or getattr(model, "arch", "")
        snap = _Snapshot(clone_tree(dict(model.state_dict())), arch)
        extra = clone_tree(extra) if extra else None

        def write() -> None:
            save_checkpoint(path, snap, meta, extra)
            if self._on_written:
                self._on_written(path, meta)

        if background:
            self._pending.append(self._pool.submit(write))
        else:
            self.wait()
            write()

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def init_source(arch: str, init: str) -> str:
    """What `arch` starts from when asked for `init`. `imagenet:resnet50` gives every variant the
    ImageNet ResNet50 backbone; an SE-ResNet50 takes timm's ImageNet SE-ResNet50 instead (its SE
    gates trained with its backbone) when that can be had, from the cache or a download."""
    from gcam_desktop.models.fetch import fetch
    from gcam_desktop.models.pretrained import PretrainedError, parse_ref
    from gcam_desktop.models.pretrained_refs import is_pretrained_ref

    if arch != "se_resnet50" or not is_pretrained_ref(init) or parse_ref(init) != "resnet50":
        return init
    try:
        fetch("se_resnet50")
    except PretrainedError as exc:
        log.info("se_resnet50: timm's ImageNet SE-ResNet50 is not available (%s); starting from the "
                 "ImageNet ResNet50 backbone with fresh SE gates", exc.problem.split(". ")[0])
        return init
    return "imagenet:se_resnet50"


def init_from(model: nn.Module, path: str | Path) -> str:
    """Load matching weights from one of our checkpoints or a torchvision / timm state dict.

    Tensors are matched by name and shape; the rest keep their fresh initialisation (the
    classifier when the class count differs, SE gates when starting from a plain ResNet50).
    Refused when less than half of the model's tensors match: that is another architecture.
    Returns a one-line summary for the log. `path` may be "imagenet:ARCH" (models/pretrained.py).
    """
    state, meta, _ = read_checkpoint(path)
    path = Path(path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if len(usable) * 2 < len(own):
        raise CheckpointError(path, f"only {len(usable)} of the {len(own)} tensors of "
                                    f"{getattr(model, 'arch', 'the model')} match it by name and shape "
                                    f"(it holds a {meta.get('arch', 'different')} model); cannot initialise from it")
    model.load_state_dict(usable, strict=False)
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in usable})
    summary = f"initialised {len(usable)}/{len(own)} tensors from {path}"
    if fresh:
        summary += f"; newly initialised: {', '.join(fresh[:6])}{' ...' if len(fresh) > 6 else ''}"
    return summary
