"""The architectures' names and labels, torch-free: the app's command line, its slot cards and
the trainer's options read them before torch has loaded. The registry builds exactly these."""

from __future__ import annotations

ARCH_LABELS: dict[str, str] = {
    "resnet50": "ResNet50",
    "se_resnet50": "SE-ResNet50",
    "s_se_resnet50": "s_se-ResNet50",
    "small_cnn": "Small CNN",
}
ARCHS: tuple[str, ...] = tuple(ARCH_LABELS)
# The three variants the paper compares (small_cnn is for tests and quick checks).
RESNET_ARCHS: tuple[str, ...] = ("resnet50", "se_resnet50", "s_se_resnet50")
# Input sizes (px) the trainer takes and a checkpoint may record: 16 px is the smallest that
# still leaves layer3 a cell; at 1024 px one image through ResNet50 keeps ~2.5 GB of
# activations for a gradient, already more than a laptop spares per image.
INPUT_SIZES = range(16, 1025)


def arch_label(arch: str) -> str:
    """The name a person reads ("SE-ResNet50"); an unknown name is shown as it is."""
    return ARCH_LABELS.get(arch, arch)
