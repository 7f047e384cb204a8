"""The SE attention made visible, Qt-free: the gates of an ordinary forward, their summaries,
how far two gates differ, and explanations with the attention switched off or held at a mean.

Gates are recorded and replaced per call through `gcam_desktop.models.gates` (context variables,
never module state; docs/adr/0012): the model object is left exactly as it was found, and
another thread running the same model is not affected.

    gates = attention_gates(model, images)          # {"layer3.2": N x C, ...} (SE) or {"layer3": ...} (s_se)
    summarize_gate(gates["layer3"][0])              # mean, spread, share damped < 0.5, kept > 0.9
    explain(model, images, attention="off")         # every gate replaced by 1
    explain(model, images, attention="mean", gate_means=reference_gate_means(...))
"""

from __future__ import annotations

import hashlib
import os
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ContextManager, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gcam_desktop.models.gates import gate_modules, gates_replaced, recording_gates
from gcam_desktop.models.gates import has_gates  # noqa: F401  (callers ask here whether a model has gates)

from .model_state import explaining, forward_logits, model_device

ATTENTION_MODES = ("on", "off", "mean")
DAMPED_BELOW, KEPT_ABOVE = 0.5, 0.9


def attention_gates(model: nn.Module, images: Tensor) -> dict[str, Tensor]:
    """{gate name: N x C float32 in (0, 1)} from one ordinary forward of `images` (N x 3 x H x W,
    normalised): every block's gate for SE-ResNet50 (`layer3.2`), each stage's shared gate for
    s_se-ResNet50 (`layer3`), in forward order. A model without gates raises ValueError saying so."""
    with recording_gates(model) as record:  # raises first for a model without gates
        x = _as_batch(images, model)
        with explaining(model), torch.no_grad():
            forward_logits(model, x)
    return record.in_order()


def attention_scope(model: nn.Module, attention: Any = "on",
                    gate_means: Mapping[str, Tensor] | None = None) -> ContextManager:
    """The per-call context an explanation runs in: "on" changes nothing, "off" fixes every gate
    at 1 (the plain residual branch), "mean" fixes each gate at `gate_means[name]` (a C vector,
    e.g. from `reference_gate_means`); a mapping {gate name: C vector or number} is used as given."""
    if isinstance(attention, Mapping):
        return gates_replaced(model, attention)
    if attention not in ATTENTION_MODES:
        raise ValueError(f"attention must be one of {', '.join(ATTENTION_MODES)} or a mapping of gate "
                         f"values, not {attention!r}")
    if attention == "on":
        return nullcontext()
    if attention == "off":
        return gates_replaced(model, 1.0)
    if gate_means is None:
        raise ValueError("attention='mean' needs gate_means= (the reference means, e.g. from "
                         "gcam_desktop.explain.attention.reference_gate_means)")
    return gates_replaced(model, gate_means)


# ------------------------------------------------------------------------------------ summaries


@dataclass(frozen=True)
class GateSummary:
    """One gate on one image: C channel weights in (0, 1)."""

    channels: int
    mean: float
    spread: float  # standard deviation over the channels
    damped: float  # share of channels below DAMPED_BELOW (the gate suppresses them)
    kept: float  # share of channels above KEPT_ABOVE (passed nearly unchanged)

    def as_dict(self) -> dict:
        return asdict(self)


def summarize_gate(gate: Tensor) -> GateSummary:
    """The summary of one gate vector (C values; a 1 x C row is accepted)."""
    g = _vector(gate)
    return GateSummary(channels=int(g.numel()), mean=float(g.mean()),
                       spread=float(g.std(unbiased=False)) if g.numel() > 1 else 0.0,
                       damped=float((g < DAMPED_BELOW).double().mean()),
                       kept=float((g > KEPT_ABOVE).double().mean()))


def summarize_gates(gates: Mapping[str, Tensor], index: int = 0) -> dict[str, GateSummary]:
    """Each gate's summary for image `index` of the batch the gates were recorded on."""
    return {name: summarize_gate(g[index] if g.dim() == 2 else g) for name, g in gates.items()}


@dataclass(frozen=True)
class GateDistance:
    """How much two gates differ.

    channelwise: mean |a_c - b_c| over channels; meaningful for one model's gate on two images or
        two classes (channel c is the same feature), None when the channel counts differ.
    distribution: the 1-Wasserstein distance between the two sets of values (mean |sorted a -
        sorted b|); it ignores which channel is which, so it also compares two models (SE's
        `layer3.0` vs s_se's `layer3`), whose channel c is an unrelated feature.
    correlation: Pearson correlation over channels (None when undefined or counts differ).
    """

    channelwise: float | None
    distribution: float
    correlation: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def gate_distance(a: Tensor, b: Tensor) -> GateDistance:
    va, vb = _vector(a).double(), _vector(b).double()
    channelwise = correlation = None
    if va.numel() == vb.numel():
        channelwise = float((va - vb).abs().mean())
        da, db = va - va.mean(), vb - vb.mean()
        denom = float(da.norm() * db.norm())
        correlation = float((da * db).sum()) / denom if denom > 0 else None
    # W1 between empirical distributions: the mean gap between their quantile functions.
    q = torch.linspace(0, 1, max(va.numel(), vb.numel()), dtype=torch.float64)
    distribution = float((torch.quantile(va, q) - torch.quantile(vb, q)).abs().mean())
    return GateDistance(channelwise, distribution, correlation)


def _vector(gate: Tensor) -> Tensor:
    g = gate.detach().float().cpu()
    if g.dim() == 2 and g.shape[0] == 1:
        g = g[0]
    if g.dim() != 1 or g.numel() == 0:
        raise ValueError(f"a gate is a vector of C channel weights, not a tensor of shape {tuple(gate.shape)}")
    return g


# ------------------------------------------------------------------------- reference means


def mean_of_gates(model: nn.Module, batches) -> dict[str, Tensor]:
    """Each gate's mean over every image of `batches` (an iterable of N x 3 x H x W tensors)."""
    sums: dict[str, Tensor] = {}
    count = 0
    for x in batches:
        for name, g in attention_gates(model, x).items():
            sums[name] = sums.get(name, 0) + g.double().sum(0).cpu()
        count += int(x.shape[0])
    if count == 0:
        raise ValueError("no reference images to average the gates over")
    return {name: (s / count).float() for name, s in sums.items()}


_MEANS_CACHE: dict[str, dict[str, Tensor]] = {}


def reference_gate_means(model: nn.Module, meta: Mapping, folder: str | os.PathLike, *,
                         checkpoint: str | os.PathLike | None = None, limit: int | None = 256,
                         batch_size: int = 16, cache_dir: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """Each gate's mean over the images of a reference folder (for attention="mean").

    At most `limit` images, spread evenly over the folder; unreadable ones are left out.
    Computed once per checkpoint and folder when `checkpoint` names the model's file: kept in
    memory and on disk (.npz under `cache_dir`, default the user's data folder), keyed by the
    checkpoint's path, size and modification time and the folder's file list, so a retrained
    checkpoint or a changed folder is averaged afresh. Without `checkpoint` nothing identifies
    the weights, and the means are computed each time.
    """
    from gcam_desktop.imaging import ImageLoadError, load_image, scan_folder
    from gcam_desktop.imaging.preprocess import preprocess_batch

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder}: the reference folder does not exist")
    paths = list(scan_folder(folder))
    if limit and len(paths) > limit:  # spread over the folder (every class of an ImageFolder), not its start
        paths = [paths[i * len(paths) // limit] for i in range(limit)]
    if not paths:
        raise ValueError(f"{folder}: no images to average the gates over")
    key = cache_file = None
    if checkpoint is not None:  # without a file to name, nothing identifies the weights: no cache
        from gcam_desktop.paths import user_data_dir

        key = _means_key(meta, paths, checkpoint)
        if key in _MEANS_CACHE:
            return _MEANS_CACHE[key]
        cache_file = Path(cache_dir or user_data_dir() / "cache" / "gate-means") / f"{key}.npz"
        means = _read_means(cache_file, model)
        if means is not None:
            _MEANS_CACHE[key] = means
            return means
    device, _ = model_device(model)

    def batches():
        for i in range(0, len(paths), batch_size):
            imgs = []
            for p in paths[i:i + batch_size]:
                try:
                    imgs.append(load_image(p))
                except (ImageLoadError, OSError):
                    continue
            if imgs:
                yield preprocess_batch(imgs, meta).to(device)

    means = mean_of_gates(model, batches())
    if cache_file is not None:
        from gcam_desktop.files import write_npz

        write_npz(cache_file, {name: v.numpy() for name, v in means.items()})
        _MEANS_CACHE[key] = means
    return means


def _read_means(path: Path, model: nn.Module) -> dict[str, Tensor] | None:
    """The cached means if the file is whole and fits the model's gates; else None (recompute)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            means = {name: torch.from_numpy(np.array(data[name], dtype=np.float32)) for name in data.files}
    except (OSError, ValueError, KeyError):
        return None
    modules = gate_modules(model)
    if set(means) != set(modules) or any(means[n].numel() != modules[n].fc2.out_channels for n in modules):
        return None
    return means


def _means_key(meta: Mapping, paths: Sequence[Path], checkpoint) -> str:
    h = hashlib.sha256()
    st = Path(checkpoint).stat()
    h.update(f"{Path(checkpoint).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(repr((meta.get("input_size"), meta.get("mean"), meta.get("std"))).encode())
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:32]


def _as_batch(images: Any, model: nn.Module) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() not in (3, 4):
        raise ValueError("images must be a float tensor N x 3 x H x W, already normalised")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    device, dtype = model_device(model)
    return images.detach().to(device, dtype)
