"""Checkpoints that lie: files whose metadata or tensors say what the model cannot be.

Each case is a small checkpoint (a 3-class small_cnn; a 2-class ResNet50 where BatchNorm is
the point) with one lie in it, and the names its one-line refusal must give besides the file:
the metadata field or the first bad tensor. `LOADS` are honest files in another precision,
which must load as float32. Built once per session by the `lying_checkpoints` fixture
(tests/conftest.py) and used by every entry point's tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

CLASSES = ["disc", "ring", "star"]
INPUT_SIZE = 32


@dataclass(frozen=True)
class Case:
    path: Path
    names: tuple[str, ...]  # what the refusal names besides the file: a metadata field or a tensor key

    def assert_refused(self, message: str) -> None:
        """`message` is one line naming the file and each of `names`."""
        text = message.strip()
        assert "\n" not in text, f"more than one line:\n{text}"
        assert str(self.path) in text, text
        problem = text.replace(str(self.path), "")  # the file's name holds the case's name too
        for name in self.names:
            assert name in problem, f"{name!r} not named in: {text}"


def _meta(**changes: Any) -> Any:
    from gcam_desktop.models import make_meta

    meta = make_meta("small_cnn", CLASSES, input_size=INPUT_SIZE)
    meta.update(changes)
    return meta


# name -> (metadata for the small_cnn, the field its refusal names)
META_LIES: dict[str, tuple[Callable[[], Any], str]] = {
    "input_size_100000": (lambda: _meta(input_size=100_000), "input_size"),
    "input_size_0": (lambda: _meta(input_size=0), "input_size"),
    "input_size_negative": (lambda: _meta(input_size=-64), "input_size"),
    "input_size_text": (lambda: _meta(input_size="224"), "input_size"),
    "mean_two_numbers": (lambda: _meta(mean=[0.5, 0.5]), "mean"),
    "mean_string": (lambda: _meta(mean="0.485, 0.456, 0.406"), "mean"),
    "mean_nan": (lambda: _meta(mean=[math.nan, 0.5, 0.5]), "mean"),
    "mean_0_255_scale": (lambda: _meta(mean=[123.7, 116.3, 103.5]), "mean"),
    "std_zeros": (lambda: _meta(std=[0.0, 0.0, 0.0]), "std"),
    "std_negative": (lambda: _meta(std=[-0.2, 0.2, 0.2]), "std"),
    "std_four_numbers": (lambda: _meta(std=[0.2, 0.2, 0.2, 0.2]), "std"),
    "std_infinite": (lambda: _meta(std=[math.inf, 0.2, 0.2]), "std"),
    "class_names_null": (lambda: _meta(class_names=None), "class_names"),
    "class_names_string": (lambda: _meta(class_names="disc ring star"), "class_names"),
    "class_names_fewer": (lambda: _meta(class_names=["disc", "ring"]), "class_names"),
    "class_names_more": (lambda: _meta(class_names=[*CLASSES, "moon"]), "class_names"),
    "class_names_numbers": (lambda: _meta(class_names=[4, 5, 3]), "class_names"),
    "class_names_twice": (lambda: _meta(class_names=["disc", "disc", "star"]), "class_names"),
    "class_names_missing": (lambda: {k: v for k, v in _meta().items() if k != "class_names"}, "class_names"),
    "num_classes_lie": (lambda: _meta(num_classes=5), "num_classes"),
    "default_layer_unknown": (lambda: _meta(default_layer="layer9"), "default_layer"),
    "epoch_negative": (lambda: _meta(epoch=-1), "epoch"),
    "metrics_list": (lambda: _meta(metrics=[0.9]), "metrics"),
    "metadata_a_list": (lambda: ["small_cnn", CLASSES, INPUT_SIZE], "metadata"),
    "metadata_a_string": (lambda: "small_cnn 32px", "metadata"),
}

# name -> (architecture, file suffix, the tensor key named, how the state dict is spoiled)
WEIGHT_LIES: dict[str, tuple[str, str, str, Callable[[dict], None]]] = {
    "nan_classifier": ("small_cnn", ".pt", "fc3.weight", lambda sd: sd["fc3.weight"].view(-1)[0].fill_(math.nan)),
    "inf_convolution": ("small_cnn", ".pt", "conv1.0.weight",
                        lambda sd: sd["conv1.0.weight"].view(-1)[7].fill_(-math.inf)),
    "nan_float16": ("small_cnn", ".pt", "fc3.bias", lambda sd: _spoil_half(sd, "fc3.bias")),
    "float64_beyond_float32": ("small_cnn", ".pt", "fc2.weight", lambda sd: _spoil_double(sd, "fc2.weight")),
    "int8_safetensors": ("small_cnn", ".safetensors", "conv1.0.bias", lambda sd: _to_int8(sd)),  # keys sorted
    "nan_running_var": ("resnet50", ".pt", "layer2.0.bn1.running_var",
                        lambda sd: sd["layer2.0.bn1.running_var"].view(-1)[3].fill_(math.nan)),
    "negative_running_var": ("resnet50", ".pt", "bn1.running_var", lambda sd: sd["bn1.running_var"][0].fill_(-1.0)),
}

# name -> dtype name: honest checkpoints in another precision; each must load, in float32
LOADS = {"float64": "float64", "float16": "float16", "bfloat16": "bfloat16"}

REFUSED = [*META_LIES, *WEIGHT_LIES]


def _spoil_half(sd: dict, key: str) -> None:
    import torch

    for k in list(sd):
        if sd[k].is_floating_point():
            sd[k] = sd[k].to(torch.float16)
    sd[key].view(-1)[0] = math.nan


def _spoil_double(sd: dict, key: str) -> None:
    import torch

    for k in list(sd):
        if sd[k].is_floating_point():
            sd[k] = sd[k].to(torch.float64)
    sd[key].view(-1)[0] = 1e300  # a float64, but infinite in the float32 the model computes in


def _to_int8(sd: dict) -> None:
    import torch

    for k in list(sd):
        sd[k] = (sd[k] * 100).clamp(-128, 127).to(torch.int8)


def _save(path: Path, state_dict: dict, meta: Any) -> Path:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state_dict, str(path))
    else:  # our format written by hand: save_checkpoint would not write a lie
        torch.save({"format": "gcam-desktop/checkpoint", "version": 1, "meta": meta,
                    "state_dict": state_dict, "extra": {}}, path)
    return path


def build(root: Path) -> tuple[dict[str, Case], dict[str, Path]]:
    """(refused cases by name, honest files in another precision by name) written under `root`."""
    import torch

    from gcam_desktop.models import build_model, make_meta

    torch.manual_seed(0)
    small = build_model("small_cnn", len(CLASSES)).state_dict()
    resnet = None
    cases: dict[str, Case] = {}
    for name, (make, field) in META_LIES.items():
        cases[name] = Case(_save(root / f"{name}.pt", small, make()), (field,))
    for name, (arch, suffix, key, spoil) in WEIGHT_LIES.items():
        if arch == "resnet50" and resnet is None:
            resnet = build_model("resnet50", 2).state_dict()
        sd = {k: v.clone() for k, v in (small if arch == "small_cnn" else resnet).items()}
        spoil(sd)
        meta = _meta() if arch == "small_cnn" else make_meta(arch, ["a", "b"], input_size=INPUT_SIZE)
        cases[name] = Case(_save(root / f"{name}{suffix}", sd, meta), (key,))
    loads = {}
    for name, dtype in LOADS.items():
        sd = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in small.items()}
        loads[name] = _save(root / f"{name}.pt", sd, _meta())
    return cases, loads
