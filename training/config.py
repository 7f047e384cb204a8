"""What a training run is asked to do. Defaults are the paper's recipe; torch-free.

Paper (Bai and Joe 2024): from scratch, input 128 x 128, batch 128, Adam lr 1e-3,
cross-entropy, random horizontal flip, 100 epochs.
"""

from __future__ import annotations

import math
import types
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from gcam_desktop.models.names import ARCHS, INPUT_SIZES
from gcam_desktop.similarity import DEFAULT_THRESHOLD

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "onecycle", "cosine")


@dataclass
class TrainConfig:
    data: str | None = None
    archs: list[str] = field(default_factory=lambda: ["resnet50"])
    out: str | None = None  # run folder; default: a new folder under gcam_desktop.paths.runs_dir()
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    scheduler: str = "none"  # "onecycle": warm-up then cosine decay per step; "cosine": per step
    input_size: int = 128
    hflip: bool = True
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    workers: int | None = None  # None: automatic (0 when frozen or when the images fit in memory)
    device: str = "auto"
    amp: bool = False  # mixed precision, CUDA only
    init: dict[str, str] = field(default_factory=dict)  # {arch or "*": checkpoint / state dict}
    # Keep the decoded, resized images in memory when they fit this many GB (all processes of a
    # machine together); None: half the memory available at the start; 0: decode per batch.
    cache_gb: float | None = None
    sync_bn: bool = False  # several processes: batch-norm statistics over the global batch
    # Train even when a class is too small to lend an image to validation (refused otherwise:
    # its accuracy would go unmeasured, and best.pt would be chosen without it).
    allow_unvalidated_classes: bool = False
    # Near-duplicates across splits (training/duplicates.py): check before training, and with
    # dedup keep one picture of each group; hash_model None = gcam_desktop.similarity's choice.
    dup_check: bool = True
    dedup: bool = False
    dup_threshold: int = DEFAULT_THRESHOLD
    hash_model: str | None = None
    # Adebayo et al. 2018's data randomisation test: train on a seeded permutation of the
    # training labels (validation and test keep theirs); see data.shuffled_labels.
    shuffle_labels: bool = False
    # After each epoch, explain this many fixed validation images (training/probe.py); 0: off.
    probe: int = 4
    # Also keep the weights of every K-th epoch (RUN_DIR/<arch>/epochs/epoch-NNN.pt); 0: only
    # last.pt and best.pt (a ResNet50's weights are ~95 MB an epoch; docs/adr/0033).
    keep_every: int = 0

    def validate(self) -> None:
        """ValueError naming the option at fault."""
        if not self.archs:
            raise ValueError("--arch: name at least one architecture")
        unknown = [a for a in self.archs if a not in ARCHS]
        if unknown:
            raise ValueError(f"--arch: unknown architecture {', '.join(unknown)}; choose from {', '.join(ARCHS)}")
        if len(set(self.archs)) != len(self.archs):
            raise ValueError("--arch: each architecture once")
        _check_numbers(self)
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 2, "--batch-size must be at least 2 (batch norm needs two images)"),
            (self.lr > 0, f"--lr must be positive, not {self.lr}"),
            (self.weight_decay >= 0, "--weight-decay must not be negative"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.scheduler in SCHEDULERS, f"--scheduler must be one of {', '.join(SCHEDULERS)}"),
            (self.input_size in INPUT_SIZES,
             f"--input-size must be between {INPUT_SIZES.start} and {INPUT_SIZES.stop - 1}"),
            (0 <= self.val_fraction < 1, "--val-fraction must be in [0, 1)"),
            (0 <= self.test_fraction < 1, "--test-fraction must be in [0, 1)"),
            (self.val_fraction + self.test_fraction < 1, "--val-fraction + --test-fraction must leave training images"),
            (self.workers is None or self.workers >= 0, "--workers must not be negative"),
            (self.cache_gb is None or self.cache_gb >= 0, "--cache-gb must not be negative"),
            (0 <= self.dup_threshold <= 64, "--dup-threshold must be between 0 and 64 bits"),
            (0 <= self.probe <= MAX_PROBE, f"--probe must be between 0 and {MAX_PROBE} images"),
            (self.keep_every >= 0, "--keep-every must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        for key in self.init:
            if key != "*" and key not in self.archs:
                raise ValueError(f"--init {key}=...: {key} is not among the trained architectures")

    def init_for(self, arch: str) -> str | None:
        return self.init.get(arch) or self.init.get("*")

    def recipe(self) -> dict:
        """The part stored in each checkpoint's metadata: how these weights were made."""
        keys = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "scheduler", "input_size",
                "hflip", "seed", "val_fraction", "test_fraction", "amp", "sync_bn", "dedup")
        return {k: getattr(self, k) for k in keys} | {"loss": "cross_entropy", "init": dict(self.init),
                                                       "shuffled_labels": self.shuffle_labels}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_saved(cls, data: Any) -> "TrainConfig":
        """A configuration read back from a run's config.json; ValueError naming the field at
        fault. The fields and their types are this dataclass's own; a field added after the run
        was made takes its default (each default is the behaviour from before the field)."""
        if not isinstance(data, dict):
            raise ValueError(f"\"config\" must be a mapping of options, not {_kind(data)}")
        hints = get_type_hints(cls)
        for f in fields(cls):
            if f.name not in data:
                if f.name in ADDED_LATER:
                    continue
                raise ValueError(f"\"config\" has no field {f.name!r}")
            if not _is_a(data[f.name], hints[f.name]):
                raise ValueError(f"field {f.name!r} must be {_describe(hints[f.name])}, not {data[f.name]!r}")
        cfg = cls.from_json(data)
        cfg.validate()
        return cfg


# Fields a run's config.json has held since the first trainer; runs made before these existed
# are resumed with their defaults.
ADDED_LATER = frozenset({"cache_gb", "sync_bn", "allow_unvalidated_classes", "dup_check", "dedup",
                         "dup_threshold", "hash_model", "shuffle_labels", "probe", "keep_every"})
MAX_PROBE = 64  # the probe is a strip of pictures, and each rides on every epoch


def _is_a(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON fits a field's annotation (int for float, never bool for a number)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_is_a(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_is_a(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_is_a(k, args[0]) and _is_a(v, args[1]) for k, v in value.items())
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}s"
    if origin is dict:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    return {type(None): "null", str: "text", int: "a whole number", float: "a number", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", type(None): "null", bool: "true or false"}.get(type(value), "a number")


_INTS = ("epochs", "batch_size", "input_size", "seed", "probe", "keep_every")
_FLOATS = ("lr", "weight_decay", "val_fraction", "test_fraction")


def _check_numbers(cfg: TrainConfig) -> None:
    """Every numeric option a finite number of the right kind (inf, nan, "1e-3" as text and
    True are refused here, before anything is read or written)."""
    for name in _INTS + ("workers",):
        value = getattr(cfg, name)
        if name == "workers" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"--{name.replace('_', '-')} must be a whole number, not {value!r}")
    for name in _FLOATS + ("cache_gb",):
        value = getattr(cfg, name)
        if name == "cache_gb" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"--{name.replace('_', '-')} must be a finite number, not {value!r}")


# Fine-tuning from ImageNet weights (`gcam-train --recipe finetune --init imagenet:resnet50`):
# the weights' own input size, a small peak rate with warm-up so the pretrained features are
# adjusted rather than overwritten, decoupled weight decay, and far fewer epochs than from
# scratch. The paper's recipe above stays the default. See docs/adr/0013-imagenet-weights.md.
FINETUNE_TRAIN = {"epochs": 15, "batch_size": 32, "lr": 3e-4, "optimizer": "adamw", "weight_decay": 0.05,
                  "scheduler": "onecycle", "input_size": 224}
RECIPES = {"paper": {}, "finetune": FINETUNE_TRAIN}

# The demo preset: small enough to train all three ResNet50 variants on a 2-core CPU in
# minutes, big enough for each to pass 90 % validation accuracy on the synthetic set.
# See docs/adr/0004-trainer-data-and-resume.md for how it was measured.
DEMO_SYNTH = {"classes": 6, "per_class": 120, "size": 64, "seed": 0}
DEMO_TRAIN = {"epochs": 8, "batch_size": 32, "lr": 2e-3, "optimizer": "adam", "scheduler": "onecycle",
              "input_size": 64, "val_fraction": 0.2, "test_fraction": 0.1, "seed": 0}
