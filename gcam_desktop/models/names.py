"""The architectures' names and labels, torch-free: the app's command line, its slot cards and
the trainer's options read them before torch has loaded. The registry builds exactly these."""

from __future__ import annotations

from typing import Sequence

ARCH_LABELS: dict[str, str] = {
    "resnet50": "ResNet50",
    "se_resnet50": "SE-ResNet50",
    "s_se_resnet50": "s_se-ResNet50",
    "small_cnn": "Small CNN",
}
ARCHS: tuple[str, ...] = tuple(ARCH_LABELS)
# The three variants the paper compares (small_cnn is for tests and quick checks), each with
# where its SE gates sit: one per bottleneck block, one per stage, or none (models/resnet.py
# builds them from this table).
SE_GATES: dict[str, str | None] = {"resnet50": None, "se_resnet50": "block", "s_se_resnet50": "stage"}
RESNET_ARCHS: tuple[str, ...] = tuple(SE_GATES)
# The attention models: those with SE gates (to record, switch off or compare).
ATTENTION_ARCHS: tuple[str, ...] = tuple(arch for arch, gates in SE_GATES.items() if gates)
# Input sizes (px) the trainer takes and a checkpoint may record: 16 px is the smallest that
# still leaves layer3 a cell; at 1024 px one image through ResNet50 keeps ~2.5 GB of
# activations for a gradient, already more than a laptop spares per image.
INPUT_SIZES = range(16, 1025)


def arch_label(arch: str) -> str:
    """The name a person reads ("SE-ResNet50"); an unknown name is shown as it is."""
    return ARCH_LABELS.get(arch, arch)


def model_names(models: Sequence[tuple[str, str]]) -> list[str]:
    """How each model of one run is named in what the run writes (gcam-explain's folders and
    predictions.csv, gcam-evaluate's report, the app's batch export), from (architecture,
    origin) pairs. The origin is what the user picked the model by: its slot in the app, else
    pretrained_refs.weights_name of what was given (a checkpoint's stem, imagenet_ARCH, an
    architecture name). Where two models share an origin (the trainer's runs/x/ARCH/best.pt),
    the architecture tells them apart if it can; a name still taken gets _2, _3 ..."""
    origins = [origin for _, origin in models]
    archs = [arch for arch, _ in models]
    names: list[str] = []
    for arch, origin in models:
        name = arch if origins.count(origin) > 1 and archs.count(arch) == 1 else origin
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name}_{n}", n + 1
        names.append(unique)
    return names
