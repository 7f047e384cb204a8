"""ImageNet weights by pseudo-path: `imagenet:resnet50` and `imagenet:se_resnet50`. Qt-free.

`imagenet:resnet50` is torchvision's ResNet50_Weights.IMAGENET1K_V2, kept where torch.hub keeps
it (`<torch.hub.get_dir()>/checkpoints/resnet50-11ad3fa6.pth`), so a file torchvision already
fetched is found offline. `imagenet:se_resnet50` is timm's `seresnet50.a1_in1k` in the Hugging
Face hub cache, fetched with huggingface_hub. Either becomes an ordinary (state dict, meta) pair:
class names, input size, mean and std from the weights' own metadata, source and licence added.

Fetching what is not in the cache is download.py's work. See docs/adr/0013-imagenet-weights.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import urlparse

from .meta import CheckpointError, make_meta
from .pretrained_refs import CHOICES, PREFIX, PRETRAINED_ARCHS, pretrained_arch

# (bytes so far, total bytes or None)
Progress = Callable[[int, "int | None"], None]

_TV_URL_ENV = "GCAM_DESKTOP_RESNET50_URL"        # tests serve the file from 127.0.0.1
_HF_ENDPOINT_ENV = "GCAM_DESKTOP_HF_ENDPOINT"     # likewise for the Hugging Face hub
_HF_REPO = "timm/seresnet50.a1_in1k"
_HF_WEIGHTS = "model.safetensors"
_HF_CONFIG = "config.json"
_TORCHVISION_LICENCE = ("BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms allow "
                        "non-commercial research and educational use")
_TIMM_LICENCE = ("Apache-2.0 (timm model card); trained on ImageNet-1k, whose terms allow "
                 "non-commercial research and educational use")


class PretrainedError(CheckpointError):
    """ImageNet weights that cannot be had; `path` is the pseudo-path, the message says why."""


class DownloadCancelled(PretrainedError):
    """The user cancelled a download; nothing was left where the complete file belongs."""


@dataclass(frozen=True)
class WeightsSource:
    """Where one set of ImageNet weights comes from and where it is kept."""

    arch: str
    provider: str      # "torchvision" or "timm"
    name: str          # what the provider calls them
    url: str           # the file's download address
    cache_path: Path   # the exact file the program looks for (and a user may put in place)
    licence: str

    @property
    def ref(self) -> str:
        return PREFIX + self.arch

    @property
    def label(self) -> str:
        return f"ImageNet weights ({self.provider})"


def parse_ref(ref) -> str:
    """The architecture of an "imagenet:ARCH" pseudo-path."""
    arch = pretrained_arch(ref)
    if arch is None:
        name = os.fspath(ref)[len(PREFIX):].strip()
        raise PretrainedError(os.fspath(ref), f"no ImageNet weights for {name!r}; choose {CHOICES}")
    return arch


# ------------------------------------------------------------------------------ sources

def _torch_hub_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir())  # TORCH_HOME / XDG_CACHE_HOME are read at each call


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, by huggingface_hub's own rule, read now (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _hf_endpoint() -> str:
    return (os.environ.get(_HF_ENDPOINT_ENV) or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _hf_repo_dir() -> Path:
    return hf_cache_dir() / ("models--" + _HF_REPO.replace("/", "--"))


def _torchvision_source(arch: str) -> WeightsSource:
    from torchvision.models import ResNet50_Weights

    url = os.environ.get(_TV_URL_ENV) or ResNet50_Weights.IMAGENET1K_V2.url
    name = os.path.basename(urlparse(url).path)  # torch.hub's rule: the file keeps its URL name
    return WeightsSource(arch, "torchvision", "ResNet50_Weights.IMAGENET1K_V2", url,
                         _torch_hub_dir() / "checkpoints" / name, _TORCHVISION_LICENCE)


def _timm_source(arch: str) -> WeightsSource:
    url = f"{_hf_endpoint()}/{_HF_REPO}/resolve/main/{_HF_WEIGHTS}"
    found = _find_hf(_HF_WEIGHTS)
    # A file someone puts in place by hand goes into a snapshot folder of any name.
    where = found or _hf_repo_dir() / "snapshots" / "manual" / _HF_WEIGHTS
    return WeightsSource(arch, "timm", "seresnet50.a1_in1k", url, where, _TIMM_LICENCE)


def source(arch: str) -> WeightsSource:
    """The source of `arch`'s ImageNet weights, with environment overrides applied now."""
    if arch not in _PROVIDERS:
        raise PretrainedError(PREFIX + arch, f"no ImageNet weights for {arch!r}; choose {CHOICES}")
    return _PROVIDERS[arch].source(arch)


def sources() -> list[WeightsSource]:
    return [source(a) for a in PRETRAINED_ARCHS]


def _find_hf(filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(_HF_REPO, filename, cache_dir=str(hf_cache_dir()))
    except Exception:  # a damaged refs/ file must not stop the search below
        hit = None
    if isinstance(hit, str) and Path(hit).is_file():
        return Path(hit)
    snapshots = _hf_repo_dir() / "snapshots"
    found = sorted(snapshots.glob(f"*/{filename}")) if snapshots.is_dir() else []
    return next((p for p in found if p.is_file()), None)


def find_cached(arch: str) -> Path | None:
    """The cached weights file of `arch`, or None; never touches the network."""
    src = source(arch)
    return src.cache_path if src.cache_path.is_file() else None


# ------------------------------------------------------------------------------ reading

def _timm_config() -> dict:
    """timm's pretrained_cfg from the cached config.json; timm's published values without it."""
    cfg = {"input_size": [3, 224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    path = _find_hf(_HF_CONFIG)
    if path is not None:
        try:
            found = json.loads(path.read_text(encoding="utf-8")).get("pretrained_cfg") or {}
            cfg.update({k: found[k] for k in cfg if k in found})
        except (OSError, ValueError, AttributeError):
            pass
    return cfg


def _torchvision_preprocessing() -> tuple[int, list, list, dict]:
    """(input size, mean, std, metrics) from torchvision's own record of the weights."""
    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V2
    tf = weights.transforms()
    return (tf.crop_size[0], tf.mean, tf.std,
            {"imagenet_top1": weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100})


def _timm_preprocessing() -> tuple[int, list, list, dict]:
    cfg = _timm_config()
    return cfg["input_size"][-1], cfg["mean"], cfg["std"], {}


class _Provider(NamedTuple):
    source: Callable[[str], WeightsSource]
    preprocessing: Callable[[], tuple[int, list, list, dict]]


# Who provides each architecture's ImageNet weights: the one place that tells them apart.
_PROVIDERS = {"resnet50": _Provider(_torchvision_source, _torchvision_preprocessing),
              "se_resnet50": _Provider(_timm_source, _timm_preprocessing)}
assert tuple(_PROVIDERS) == PRETRAINED_ARCHS, (tuple(_PROVIDERS), PRETRAINED_ARCHS)


def pretrained_meta(arch: str, file: Path | None = None) -> dict:
    """The checkpoint metadata of `arch`'s ImageNet weights (no download)."""
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]  # shipped with torchvision; timm uses the same order
    src = source(arch)
    size, mean, std, metrics = _PROVIDERS[arch].preprocessing()
    meta = make_meta(arch, names, input_size=size, mean=mean, std=std,
                     recipe={"pretrained": f"{src.provider} {src.name}"}, metrics=metrics)
    meta.update(source=src.url, provider=f"{src.provider} {src.name}", licence=src.licence,
                file=str(file or src.cache_path), dataset="ImageNet-1k")
    return meta
