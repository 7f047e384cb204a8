"""The one way in from a checkpoint reference to weights a program may trust.

A reference is a file or an `imagenet:ARCH` pseudo-path; this module alone tells them apart,
so the dependencies run one way: resolver -> {checkpoint (files), pretrained (ImageNet
weights)} -> meta (the metadata and its checks). Whatever the source, the tensors arrive in
float32 and finite (tensor_checks.py) and the metadata is checked against the weights'
classifier before anyone reads it (meta.validate_meta).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from .checkpoint import classifier_outputs, model_from_state, read_file
from .meta import CheckpointError, validate_meta
from .pretrained_refs import is_pretrained_ref

if TYPE_CHECKING:
    from .pretrained import Progress


def read_checkpoint(ref) -> tuple[dict, dict, dict]:
    """(state_dict, meta, extra) of a file or "imagenet:ARCH", meta checked; no model built."""
    if is_pretrained_ref(ref):
        sd, meta, extra = read_pretrained(ref)
    else:
        sd, meta, extra = read_file(ref)
    outputs = classifier_outputs(ref, sd, meta["arch"])
    return sd, validate_meta(ref, meta, outputs), extra


def load_checkpoint(ref, map_location=None, expect_arch: str | None = None,
                    expect_num_classes: int | None = None) -> tuple[nn.Module, dict]:
    """The model in eval mode on `map_location` (CPU by default) and its metadata."""
    sd, meta, _ = read_checkpoint(ref)
    path = Path(ref)
    arch, n = meta["arch"], meta["num_classes"]
    if expect_arch is not None and arch != expect_arch:
        raise CheckpointError(path, f"is a {arch} checkpoint, not {expect_arch}; pick a {expect_arch} "
                                    f"checkpoint or switch the slot to {arch}")
    if expect_num_classes is not None and n != int(expect_num_classes):
        raise CheckpointError(path, f"has {n} classes, but {expect_num_classes} are expected")
    model = model_from_state(path, arch, n, sd)
    attach_meta(model, meta)
    model.eval()
    if map_location is not None:
        model.to(map_location)
    return model, meta


def load_training_state(ref) -> dict:
    """The optimizer / scheduler / RNG state saved beside the weights ({} if none)."""
    return read_checkpoint(ref)[2]


def read_pretrained(ref, progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[dict, dict, dict]:
    """(state_dict, meta, {}) for "imagenet:ARCH", fetching the file if it is not cached."""
    from .fetch import fetch  # imports torchvision / huggingface_hub: only when asked
    from .pretrained import PREFIX, PretrainedError, parse_ref, pretrained_meta

    arch = parse_ref(ref)
    path = fetch(arch, progress, cancel)
    sd, found, _ = read_file(path)
    if found.get("arch") != arch:
        raise PretrainedError(PREFIX + arch, f"{path} holds {found.get('arch')} weights, not {arch}; "
                                             f"delete it so the right file can be fetched")
    return sd, pretrained_meta(arch, path), {}


def attach_meta(model, meta: dict):
    """What the explanation code reads from the model itself, set from its metadata: the layer
    explained by default, and the input normalisation (explain/references.py: what a pixel of
    value 0 is, for DeepLIFT's black reference and occlusion's fill). Every path that makes a
    model from metadata goes through here, so none of them forgets one."""
    if meta.get("default_layer"):
        model.default_layer = meta["default_layer"]
    if meta.get("mean") and meta.get("std"):
        model.input_normalization = (tuple(meta["mean"]), tuple(meta["std"]))
    return model
