"""The `imagenet:ARCH` pseudo-paths by name, torch-free: the app's slots and command line
recognise them before torch loads; models/pretrained.py resolves them."""

from __future__ import annotations

import os

PREFIX = "imagenet:"
PRETRAINED_ARCHS = ("resnet50", "se_resnet50")
CHOICES = " or ".join(PREFIX + a for a in PRETRAINED_ARCHS)


def is_pretrained_ref(path) -> bool:
    """True for "imagenet:..." (a str or a Path made from one)."""
    try:
        return os.fspath(path).startswith(PREFIX)
    except TypeError:
        return False


def pretrained_arch(ref) -> str | None:
    """The architecture an "imagenet:ARCH" pseudo-path names, or None if there are no such weights."""
    arch = os.fspath(ref)[len(PREFIX):].strip() if is_pretrained_ref(ref) else ""
    return arch if arch in PRETRAINED_ARCHS else None


def absolute_ref(path) -> str:
    """A checkpoint reference as the settings and slots keep it: a file path made absolute (it
    must be found again from any folder), an "imagenet:ARCH" pseudo-path as it is."""
    if is_pretrained_ref(path):
        return os.fspath(path)
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def weights_name(ref) -> str:
    """What a model given as `ref` came from, as a name (models/names.py model_names): a
    checkpoint file's stem, "imagenet_ARCH" for ImageNet weights, an architecture name as it is."""
    if is_pretrained_ref(ref):
        return os.fspath(ref).replace(":", "_")
    return os.path.splitext(os.path.basename(os.fspath(ref)))[0]


def split_arch_ref(text: str) -> tuple[str | None, str]:
    """"se_resnet50=runs/x/best.pt" -> ("se_resnet50", "runs/x/best.pt"): the form gcam-desktop's
    --weights takes, accepted by every entry point; anything else -> (None, text). A file whose
    own name holds "=" is taken whole when it exists."""
    from gcam_desktop.models.names import ARCHS

    arch, sep, ref = os.fspath(text).partition("=")
    if sep and ref and arch in ARCHS and not os.path.exists(os.fspath(text)):
        return arch, ref
    return None, os.fspath(text)
