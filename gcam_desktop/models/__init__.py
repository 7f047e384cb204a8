"""The three ResNet50 variants (and a small CNN), a registry by name, and checkpoints. Qt-free."""

from .checkpoint import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CheckpointError,
    guess_arch,
    load_checkpoint,
    load_training_state,
    make_meta,
    read_checkpoint,
    save_checkpoint,
)
from .registry import ARCHS, available_devices, build_model, get_layer, pick_device

__all__ = [
    "ARCHS", "IMAGENET_MEAN", "IMAGENET_STD", "CheckpointError", "available_devices",
    "build_model", "get_layer", "guess_arch", "load_checkpoint", "load_training_state", "make_meta",
    "pick_device", "read_checkpoint", "save_checkpoint",
]
