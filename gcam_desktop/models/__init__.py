"""The three ResNet50 variants (and a small CNN), a registry by name, and checkpoints. Qt-free.

The names (`ARCHS`, `ARCH_LABELS`) are torch-free; everything else loads torch on first use,
so `gcam_desktop.models.names` stays cheap for the command line and the window's start-up.
"""

from __future__ import annotations

from gcam_desktop.lazy import lazy_attributes

from .names import ARCH_LABELS, ARCHS, RESNET_ARCHS, arch_label

_LAZY = {
    "IMAGENET_MEAN": "meta", "IMAGENET_STD": "meta", "CheckpointError": "meta", "make_meta": "meta",
    "validate_meta": "meta", "guess_arch": "checkpoint", "save_checkpoint": "checkpoint",
    "attach_meta": "resolver", "load_checkpoint": "resolver", "load_training_state": "resolver", "read_checkpoint": "resolver",
    "available_devices": "registry", "build_model": "registry", "default_layer_for": "registry",
    "get_layer": "registry", "pick_device": "registry",
    "PretrainedError": "pretrained", "is_pretrained_ref": "pretrained_refs",
}

__all__ = ["ARCHS", "ARCH_LABELS", "RESNET_ARCHS", "arch_label", *_LAZY]

__getattr__ = lazy_attributes(__name__, globals(), _LAZY)
