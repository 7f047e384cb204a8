"""Checkpoint files: one format, the state dict plus what the viewer needs to use it without
questions, written atomically and read back as data.

A checkpoint is data, never code: files are read with `torch.load(weights_only=True)` (or
safetensors), and plain torchvision / timm state dicts are recognised by their keys. Reading a
file gives its tensors in float32, checked finite (tensor_checks.py); its metadata is checked
by the resolver (resolver.py), which also takes the `imagenet:ARCH` references.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..files import atomic_write
from .meta import CheckpointError, as_mapping, make_meta
from .registry import ARCHS, build_model
from .tensor_checks import as_checked_float32

FORMAT = "gcam-desktop/checkpoint"
FORMAT_VERSION = 1
_HEADS = {"small_cnn": "fc3"}  # the classifier layer of each architecture ("fc" where not named)


def save_checkpoint(path, model: nn.Module, meta: Mapping, extra: Mapping | None = None) -> Path:
    """Write model weights, `meta` and optional training state (`extra`) atomically."""
    meta = dict(meta)
    arch = meta.get("arch") or getattr(model, "arch", None)
    if arch not in ARCHS:
        raise ValueError(f"meta['arch'] must be one of {ARCHS}, not {arch!r}")
    meta["arch"] = arch
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "meta": meta,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    def write(tmp: str) -> None:
        with open(tmp, "wb", buffering=0) as fh:
            sink = _ErrnoKeepingSink(fh)
            try:
                torch.save(payload, sink)
            except RuntimeError:
                if sink.error is not None:  # the disk's own reason, not torch's "unexpected pos"
                    raise sink.error from None
                raise

    atomic_write(path, write)
    return Path(path)


class _ErrnoKeepingSink:
    """A file torch.save writes to that remembers the OSError (ENOSPC, EROFS ...) of a failed
    write: torch turns it into "[enforce fail at inline_container.cc] unexpected pos"."""

    def __init__(self, fh) -> None:
        self.fh, self.error = fh, None

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        try:
            while view:
                view = view[self.fh.write(view):]
        except OSError as exc:
            self.error = self.error or exc
            raise
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


def _read(path: Path) -> Any:
    if not path.exists():
        from ..files import why_missing

        raise CheckpointError(path, why_missing(path, "file"))
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "empty file (0 bytes): not a checkpoint")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors is a dependency
            raise CheckpointError(path, "reading .safetensors needs the safetensors package") from exc
        try:
            return load_file(str(path))
        except Exception as exc:
            raise CheckpointError(path, f"not a readable safetensors file ({exc})") from exc
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head[:2] == b"PK" and not zipfile.is_zipfile(path):
        raise CheckpointError(path, "truncated or damaged (the archive's directory is missing); "
                                    "the file was probably cut off while copying or saving")
    if head[:2] != b"PK" and not _looks_like_pickle(head):
        raise CheckpointError(path, f"not a PyTorch checkpoint at all: {_what_it_is(head)}")
    try:
        with warnings.catch_warnings():
            # torch's notes on pickle protocols are about its internals, not the user's file.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if _wants_code(str(exc)):
            raise CheckpointError(path, "a pickle that asks to run Python code or build objects besides "
                                        "tensors; refused without running it (a checkpoint must be data). "
                                        "If you trust its source, re-save its state_dict.") from exc
        protocol = _pickle_protocol(path, head)
        if protocol is not None and protocol > 2 and "unsupported operand" in str(exc).lower():
            raise CheckpointError(path, f"written with pickle protocol {protocol}, which safe loading (tensors "
                                        f"only) cannot read; re-save it with torch.save's default settings") from exc
        raise CheckpointError(path, f"damaged, or not a PyTorch checkpoint ({_unpickler_detail(str(exc))})") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        msg = str(exc)
        if "zip" in msg.lower() or isinstance(exc, EOFError) or "truncat" in msg.lower():
            raise CheckpointError(path, f"truncated or damaged ({msg.splitlines()[0] if msg else type(exc).__name__})") from exc
        raise CheckpointError(path, f"not a PyTorch checkpoint ({msg.splitlines()[0] if msg else type(exc).__name__})") from exc
    except Exception as exc:
        raise CheckpointError(path, f"not a PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def _pickle_protocol(path: Path, head: bytes) -> int | None:
    """The pickle protocol of a legacy file or of a zip checkpoint's data.pkl, if readable."""
    try:
        if head[:2] == b"PK":
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                head = zf.open(name).read(2) if name else b""
        return head[1] if _looks_like_pickle(head) else None
    except (OSError, zipfile.BadZipFile, StopIteration):
        return None


def _looks_like_pickle(head: bytes) -> bool:
    # torch's legacy format and plain pickles start with the PROTO opcode (0x80, version 2..5).
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _what_it_is(head: bytes) -> str:
    """What a file that is no checkpoint looks like, from its first bytes."""
    text = head.lstrip()[:64].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "it is a web page (HTML); the download probably saved a page instead of the file"
    magic = [(b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
             (b"\x1f\x8b", "gzip-compressed data; unpack it first"), (b"%PDF", "a PDF document"),
             (b"\x93NUMPY", "a NumPy array file (.npy)"), (b"\x89HDF", "an HDF5 file (Keras?), not PyTorch")]
    for prefix, name in magic:
        if head.startswith(prefix):
            return f"it is {name}"
    if head[:1] in (b"{", b"[") and text.rstrip().endswith((b"}", b"]", b",", b'"')) or head[:1] == b"{":
        return "it is JSON or other text"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "its contents are no format this program knows (random or damaged data?)"


def _wants_code(message: str) -> bool:
    # weights_only refuses globals (functions, classes) by name; other errors mean bad bytes.
    low = message.lower()
    return "unsupported global" in low or "global" in low and "allowed" in low or "unsupported class" in low


def _unpickler_detail(message: str) -> str:
    for line in message.splitlines():
        line = line.strip()
        if line and ("error" in line.lower() or line.lower().startswith("unsupported")) \
                and "weights only load failed" not in line.lower() and "file an issue" not in line.lower():
            return line.rstrip(":")
    return message.splitlines()[0] if message else "unreadable"


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def guess_arch(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Recognise an architecture from its key names (torchvision / timm / ours)."""
    keys = set(state_dict)
    if "conv1.0.weight" in keys and "fc3.weight" in keys:
        return "small_cnn"
    is_r50 = ("layer4.2.conv3.weight" in keys and "layer3.5.conv3.weight" in keys
              and "layer3.6.conv1.weight" not in keys and "layer4.3.conv1.weight" not in keys)
    if not is_r50:
        return None
    if "layer1.se.fc1.weight" in keys:
        return "s_se_resnet50"
    if "layer1.0.se.fc1.weight" in keys:
        return "se_resnet50"
    return "resnet50"


def describe_unknown(state_dict: Mapping[str, torch.Tensor]) -> str:
    keys = set(state_dict)
    blocks = [sum(1 for k in keys if k.startswith(f"layer{s}.") and k.endswith(".conv1.weight")) for s in range(1, 5)]
    if any(blocks):
        kind = "bottleneck" if any(k.endswith("conv3.weight") for k in keys) else "basic-block"
        return (f"looks like a ResNet with {blocks} {kind} blocks per stage (ResNet50 has [3, 4, 6, 3] bottlenecks); "
                f"supported architectures: {', '.join(ARCHS)}")
    sample = ", ".join(sorted(keys)[:3])
    return f"its keys ({sample}, ...) match none of the supported architectures: {', '.join(ARCHS)}"


def _unwrap(path: Path, obj: Any) -> tuple[dict, dict, dict]:
    """(state_dict, meta, extra) from our format or a plain / wrapped state dict."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        sd, meta, extra = obj.get("state_dict"), obj.get("meta"), obj.get("extra")
        if not _is_state_dict(sd):
            raise CheckpointError(path, f"its 'state_dict' is {type(sd).__name__}, not tensors by name")
        if extra is not None and not isinstance(extra, Mapping):
            raise CheckpointError(path, f"its training state ('extra') is {type(extra).__name__}, not a mapping")
        return dict(sd), ({} if meta is None else as_mapping(path, meta)), dict(extra or {})
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if _is_state_dict(obj.get(key)):
                obj = obj[key]
                break
    if not _is_state_dict(obj):
        raise CheckpointError(path, f"not a checkpoint: no state dict of tensors inside (found {type(obj).__name__})")
    sd = {k.removeprefix("module."): v for k, v in obj.items()}  # DataParallel prefixes
    return sd, {}, {}


def classifier_outputs(path, sd: Mapping[str, torch.Tensor], arch: str) -> int:
    """How many classes the weights' classifier tells apart: the bound class names must meet."""
    head = sd.get(f"{_HEADS.get(arch, 'fc')}.weight")
    if head is None or head.dim() != 2:
        raise CheckpointError(path, f"looks like {arch} but has no classifier weights")
    return int(head.shape[0])


def _check_keys(path: Path, model: nn.Module, sd: Mapping[str, torch.Tensor], arch: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} tensors of the wrong shape (first: {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(path, f"does not fit {arch}: " + "; ".join(problems))


def read_file(path) -> tuple[dict, dict, dict]:
    """(state_dict, meta, extra) of one checkpoint file, tensors in float32 and checked finite;
    a plain state dict gets metadata made up from its classifier. The metadata is as the file
    says: check it with meta.validate_meta (the resolver does) before trusting it."""
    path = Path(path)
    obj = _read(path)
    sd, meta, extra = _unwrap(path, obj)
    sd = as_checked_float32(path, sd)
    arch = meta.get("arch") or guess_arch(sd)
    if arch is None:
        raise CheckpointError(path, describe_unknown(sd))
    if arch not in ARCHS:
        raise CheckpointError(path, f"made for architecture {arch!r}, which this program does not know "
                                    f"(supported: {', '.join(ARCHS)})")
    if meta:
        meta["arch"] = arch  # recognised by its keys where the metadata leaves it out
    else:
        n = classifier_outputs(path, sd, arch)
        meta = make_meta(arch, [f"class {i}" for i in range(n)], input_size=224)
        meta["source"] = "plain state dict"
    return sd, meta, extra


def model_from_state(path, arch: str, num_classes: int, sd: Mapping[str, torch.Tensor]) -> nn.Module:
    """The `arch` model holding exactly the tensors of `sd` (CheckpointError if they do not fit).

    Built without its random initialisation (seconds for three ResNet50s on a small CPU, all
    overwritten by the checkpoint's weights): on the meta device, then given the loaded tensors
    themselves (load_state_dict(assign=True))."""
    with torch.device("meta"):
        model = build_model(arch, num_classes)
    _check_keys(Path(path), model, sd, arch)
    model.load_state_dict(sd, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # a tensor the file lacks
        model = build_model(arch, num_classes)
        model.load_state_dict(sd, strict=True)
    return model
