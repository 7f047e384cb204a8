"""ImageNet weights by pseudo-path: `imagenet:resnet50` and `imagenet:se_resnet50`. Qt-free.

`imagenet:resnet50` is torchvision's ResNet50_Weights.IMAGENET1K_V2, kept where torch.hub keeps
it (`<torch.hub.get_dir()>/checkpoints/resnet50-11ad3fa6.pth`), so a file torchvision already
fetched is found offline. `imagenet:se_resnet50` is timm's `seresnet50.a1_in1k` in the Hugging
Face hub cache, fetched with huggingface_hub. Either becomes an ordinary (state dict, meta) pair:
class names, input size, mean and std from the weights' own metadata, source and licence added.

Found in the cache: no network at all. Otherwise one download with a progress callback (or a
tqdm bar on a terminal), cancellable, its SHA-256 checked, written atomically. Offline and not
cached: a PretrainedError within seconds naming the URL and the exact file to put in place.
See docs/adr/0013-imagenet-weights.md.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from ..files import atomic_write
from .checkpoint import read_file
from .meta import CheckpointError, make_meta
from .pretrained_refs import CHOICES, PREFIX, PRETRAINED_ARCHS, is_pretrained_ref, pretrained_arch

TIMEOUT_S = 8.0  # connect / read timeout: an unreachable host fails in seconds, never hangs

# (bytes so far, total bytes or None)
Progress = Callable[[int, "int | None"], None]

_TV_URL_ENV = "GCAM_DESKTOP_RESNET50_URL"        # tests serve the file from 127.0.0.1
_HF_ENDPOINT_ENV = "GCAM_DESKTOP_HF_ENDPOINT"     # likewise for the Hugging Face hub
_HF_REPO = "timm/seresnet50.a1_in1k"
_HF_WEIGHTS = "model.safetensors"
_HF_CONFIG = "config.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
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


# ------------------------------------------------------------------------------ download

def _terminal_bar(desc: str):
    from tqdm import tqdm

    return tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                file=sys.stderr, disable=None, dynamic_ncols=True)  # disable=None: only on a terminal


def _check_cancel(ref: str, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(ref, "download cancelled; nothing was kept")


def _unreachable(src: WeightsSource, why: str) -> PretrainedError:
    return PretrainedError(
        src.ref, f"not in the cache and cannot be downloaded ({why}). Download {src.url} "
                 f"on a machine with internet access and put the file at {src.cache_path}")


def _probe(src: WeightsSource, url: str, timeout: float) -> None:
    """Fail at once when the host cannot be reached (offline, no DNS) instead of retrying."""
    parts = urlparse(url)
    if parts.scheme == "file":
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise _unreachable(src, f"{parts.hostname} unreachable: {exc.strerror or exc}") from None


def _download_url(src: WeightsSource, progress: Progress, cancel, timeout: float) -> Path:
    """torch.hub's convention (file name from the URL, `name-<sha256 prefix>.ext` checked) with a
    timeout, a progress callback and cancel, which torch.hub.download_url_to_file lacks."""
    match = re.search(r"-([a-f0-9]{8,})\.", src.cache_path.name)
    hash_prefix = match.group(1) if match else None
    _probe(src, src.url, timeout)
    try:
        response = urlopen(Request(src.url, headers={"User-Agent": "gcam-desktop"}), timeout=timeout)
    except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise _unreachable(src, str(getattr(exc, "reason", exc))) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        progress(0, total)

        def write(tmp: str) -> None:
            digest, done = hashlib.sha256(), 0
            with open(tmp, "wb") as fh:
                while True:
                    _check_cancel(src.ref, cancel)
                    try:
                        chunk = response.read(1 << 16)
                    except (OSError, http.client.HTTPException) as exc:
                        raise PretrainedError(src.ref, f"download from {src.url} broke off after {done} bytes "
                                                       f"({type(exc).__name__}); nothing was kept, try again") from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress(done, total)
            if total is not None and done != total:
                raise PretrainedError(src.ref, f"download from {src.url} is truncated ({done} of {total} bytes); "
                                               f"nothing was kept, try again")
            if hash_prefix and not digest.hexdigest().startswith(hash_prefix):
                raise PretrainedError(src.ref, f"download from {src.url} is corrupt: SHA-256 {digest.hexdigest()[:16]}... "
                                               f"does not start with {hash_prefix}; nothing was kept")

        atomic_write(src.cache_path, write)
    return src.cache_path


def _hf_tqdm(ref: str, progress: Progress, cancel):
    """A tqdm class for huggingface_hub that reports to `progress` and stops on `cancel`."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # our own callback (or terminal bar) shows the progress
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)
            self.expected = kwargs.get("total")

        def update(self, n=1):
            _check_cancel(ref, cancel)
            self.done += int(n or 0)
            progress(self.done, self.expected)
            return super().update(n)

    return Bar


def _download_hf(src: WeightsSource, progress: Progress, cancel, timeout: float) -> tuple[Path, Path | None]:
    from huggingface_hub import constants, hf_hub_download

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; honour a later setting too.
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise _unreachable(src, "HF_HUB_OFFLINE is set")

    _probe(src, src.url, timeout)
    files = []
    for filename in (_HF_CONFIG, _HF_WEIGHTS):
        _check_cancel(src.ref, cancel)
        try:
            path = hf_hub_download(_HF_REPO, filename, cache_dir=str(hf_cache_dir()), endpoint=_hf_endpoint(),
                                   etag_timeout=timeout,
                                   tqdm_class=_hf_tqdm(src.ref, progress if filename == _HF_WEIGHTS else
                                                       (lambda d, t: None), cancel))
        except PretrainedError:
            raise
        except Exception as exc:
            if filename == _HF_CONFIG:  # the weights alone will do: defaults stand in for the config
                files.append(None)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _unreachable(src, first) from None
        files.append(Path(path))
    config, weights = files
    _verify_hf_blob(src, weights)
    return weights, config


def _verify_hf_blob(src: WeightsSource, path: Path) -> None:
    """The hub names a large file's blob by its SHA-256 (the ETag): check the content against it."""
    blob = path.resolve()
    if not _SHA256.fullmatch(blob.name):
        return
    digest = hashlib.sha256()
    with open(blob, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != blob.name:
        for p in {path, blob}:
            p.unlink(missing_ok=True)
        raise PretrainedError(src.ref, f"download from {src.url} is corrupt: SHA-256 {digest.hexdigest()[:16]}... "
                                       f"is not the announced {blob.name[:16]}...; nothing was kept")


def fetch(arch: str, progress: Progress | None = None, cancel: threading.Event | None = None,
          timeout: float = TIMEOUT_S) -> Path:
    """The weights file of `arch` (an arch or "imagenet:ARCH"): from the cache, else downloaded.

    `progress(done, total)` is called during a download (default: a tqdm bar on a terminal);
    setting `cancel` stops it with DownloadCancelled.
    """
    if is_pretrained_ref(arch):
        arch = parse_ref(arch)
    src = source(arch)
    if src.cache_path.is_file():
        return src.cache_path
    bar = None
    if progress is None:
        bar = _terminal_bar(f"{src.ref} ({src.provider})")

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        if arch == "resnet50":
            return _download_url(src, progress, cancel, timeout)
        return _download_hf(src, progress, cancel, timeout)[0]
    finally:
        if bar is not None:
            bar.close()


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


def read_pretrained(ref, progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[dict, dict, dict]:
    """(state_dict, meta, {}) for "imagenet:ARCH", fetching the file if it is not cached."""
    arch = parse_ref(ref)
    path = fetch(arch, progress, cancel)
    sd, found, _ = read_file(path)
    if found.get("arch") != arch:
        raise PretrainedError(PREFIX + arch, f"{path} holds {found.get('arch')} weights, not {arch}; "
                                             f"delete it so the right file can be fetched")
    return sd, pretrained_meta(arch, path), {}
