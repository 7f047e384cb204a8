"""A checkpoint's metadata: how it is made (`make_meta`) and checked before anything trusts it
(`validate_meta`), and the error every checkpoint problem is told with. The leaf of the
checkpoint modules: file checkpoints, ImageNet weights and the resolver above them import
this; it imports none of them.

Metadata is the file's word about itself. Trusted unchecked, an input size of 100000 grew
gcam-explain to 24 GB, a std of zeros or a mean that is a string failed on each image with the
same raw torch error, and class names of the wrong count showed classes by number. So every
field is checked against bounds that come from the model, once, when the checkpoint is read,
and a lie is one line naming the file and the field.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from numbers import Real
from pathlib import Path
from typing import Any, Mapping

from ..imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD
from .names import ARCHS, INPUT_SIZES
from .registry import default_layer_for, explainable_layers


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what to do."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def make_meta(arch: str, class_names, input_size: int = 128, mean=IMAGENET_MEAN, std=IMAGENET_STD,
              recipe: Mapping | None = None, epoch: int = 0, metrics: Mapping | None = None) -> dict:
    return {
        "arch": arch,
        "class_names": [str(c) for c in class_names],
        "num_classes": len(class_names),
        "input_size": int(input_size),
        "default_layer": default_layer_for(arch, input_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "recipe": dict(recipe or {}),
        "epoch": int(epoch),
        "metrics": dict(metrics or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# Pixels are scaled to [0, 1] before the mean is taken off and divided by the std, so a mean
# outside [0, 1] is no mean of pixels, and a std above 1 (0.5 is the most [0, 1] values can
# spread) is none either; std = 1 is allowed, the usual "no scaling".
_MEAN_RANGE = (0.0, 1.0)
_STD_RANGE = (0.0, 1.0)
# Fields the program reads as text (paths, provenance); anything else a file adds is kept as is.
_TEXT_FIELDS = ("created", "source", "provider", "licence", "file", "dataset", "data", "default_layer")


def validate_meta(path: str | os.PathLike, meta: Any, outputs: int) -> dict:
    """A checked copy of `meta` for a model whose classifier has `outputs` rows; CheckpointError
    (one line: the file and the field) for the first field that lies. Fields readers always
    defaulted when absent (input_size 224, ImageNet mean / std) get those defaults."""
    def refuse(field: str, problem: str) -> CheckpointError:
        return CheckpointError(path, f"metadata field {field!r} {problem}")

    out = as_mapping(path, meta)
    if out.get("arch") not in ARCHS:
        raise refuse("arch", f"is {_shown(out.get('arch'))}; supported: {', '.join(ARCHS)}")
    out["class_names"] = _class_names(refuse, out.get("class_names", _ABSENT), outputs)
    if "num_classes" in out and (not _is_int(out["num_classes"]) or out["num_classes"] != outputs):
        raise refuse("num_classes", f"is {_shown(out['num_classes'])}, but the classifier has {outputs} outputs")
    out["num_classes"] = outputs
    size = out.setdefault("input_size", 224)
    if not _is_int(size) or size not in INPUT_SIZES:
        # The trainer's own range (names.py says why); 100000 px would want ~24 TB of activations.
        raise refuse("input_size", f"is {_shown(size)}; must be a whole number of pixels from "
                                   f"{INPUT_SIZES.start} to {INPUT_SIZES.stop - 1}")
    out["input_size"] = int(size)
    out["mean"] = _triple(refuse, "mean", out.get("mean", IMAGENET_MEAN), _MEAN_RANGE, low_open=False)
    out["std"] = _triple(refuse, "std", out.get("std", IMAGENET_STD), _STD_RANGE, low_open=True)
    if "epoch" in out and not (_is_int(out["epoch"]) and out["epoch"] >= 0):
        raise refuse("epoch", f"is {_shown(out['epoch'])}; must be a whole number, 0 or more")
    for field in ("recipe", "metrics"):
        if field in out and not isinstance(out[field], Mapping):
            raise refuse(field, f"is {_kind(out[field])}, not a mapping")
    for field in _TEXT_FIELDS:
        if field in out and not isinstance(out[field], str):
            raise refuse(field, f"is {_kind(out[field])}, not text")
    # Older checkpoints carry no default layer: the same rule from their input size.
    layer = out.setdefault("default_layer", default_layer_for(out["arch"], out["input_size"]))
    if layer not in explainable_layers(out["arch"]):
        raise refuse("default_layer", f"is {_shown(layer)}, which {out['arch']} does not have; "
                                      f"its layers: {', '.join(explainable_layers(out['arch']))}")
    return out


def as_mapping(path: str | os.PathLike, meta: Any) -> dict:
    """A copy of `meta` as a dict, or CheckpointError if the file's metadata is no mapping."""
    if not isinstance(meta, Mapping):
        raise CheckpointError(path, f"its metadata is {_kind(meta)}, not a mapping of named fields")
    return dict(meta)


_ABSENT = object()


def _class_names(refuse, names: Any, outputs: int) -> list[str]:
    if names is _ABSENT:
        raise refuse("class_names", f"is missing; the classifier has {outputs} outputs to name")
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise refuse("class_names", f"is {_kind(names)}, not a list of {outputs} names")
    if len(names) != outputs:
        raise refuse("class_names", f"has {len(names)} names, but the classifier has {outputs} outputs")
    bad = next((i for i, n in enumerate(names) if not isinstance(n, str) or not n), None)
    if bad is not None:
        raise refuse("class_names", f"entry {bad} is {_shown(names[bad])}, not a name")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise refuse("class_names", f"names {twice!r} twice; each class needs its own name")
    return list(names)


def _triple(refuse, field: str, value: Any, bounds: tuple[float, float], low_open: bool) -> list[float]:
    """Exactly three finite real numbers (one per RGB channel) within `bounds`."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or len(value) != 3 \
            or not all(isinstance(v, Real) and not isinstance(v, bool) for v in value):
        raise refuse(field, f"is {_shown(value)}; must be three numbers, one per colour channel")
    low, high = bounds
    for v in value:
        if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
            shown = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
            raise refuse(field, f"is {_shown(value)}; each value must be a finite number in {shown} "
                                f"(pixels are scaled to 0..1 first)")
    return [float(v) for v in value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({_shown(value)})"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _shown(value: Any, limit: int = 60) -> str:
    """A value as it may appear in one line of a message: repr, newlines escaped, cut short."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
