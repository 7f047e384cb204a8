"""What an evaluation reads: models under display names, image lists, where each image's object
mask is (reading a mask is evaluation.masks)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from torch import nn

from gcam_desktop.imaging import IMAGE_EXTENSIONS, scan_folder


@dataclass
class ModelEntry:
    """A loaded model under a display name, with its checkpoint metadata."""

    name: str
    model: nn.Module
    meta: Mapping
    path: str | None = None
    # How the SE gates run while this entry is scored: "on" (as trained), "off" (every gate 1)
    # or "mean" (each gate at gate_means[name]); `base` names the entry with attention on.
    attention: str = "on"
    base: str | None = None
    gate_means: Mapping | None = None

    @property
    def arch(self) -> str:
        return str(self.meta.get("arch") or getattr(self.model, "arch", "?"))


def name_entries(paths_and_archs: Sequence[tuple[str, str]]) -> list[str]:
    """The names the report gives the models, as every output names them (names.model_names)."""
    from gcam_desktop.models.names import model_names
    from gcam_desktop.models.pretrained_refs import weights_name

    return model_names([(arch, weights_name(path)) for path, arch in paths_and_archs])


def load_entries(checkpoints: Sequence[str | os.PathLike], device=None) -> list[ModelEntry]:
    """Load checkpoints (raises CheckpointError naming the file that fails)."""
    from gcam_desktop.models import load_checkpoint
    from gcam_desktop.models.pretrained_refs import split_arch_ref

    loaded = []
    for given in checkpoints:
        arch, ref = split_arch_ref(given)  # ARCH=CHECKPOINT, as gcam-desktop takes it: checked on load
        loaded.append((ref, *load_checkpoint(ref, map_location=device, expect_arch=arch)))
    names = name_entries([(p, meta["arch"]) for p, _, meta in loaded])
    return [ModelEntry(n, m, meta, p) for n, (p, m, meta) in zip(names, loaded)]


def attention_variants(entries: Sequence[ModelEntry], mode: str,
                       reference: Path | None = None) -> list[ModelEntry]:
    """The entries, each SE / s_se model followed by the same model object scored with its
    attention `mode` ("off" or "mean"; "mean" averages the gates over `reference`, once per
    checkpoint). Models without gates are kept as they are; "on" changes nothing."""
    if mode == "on":
        return list(entries)
    if mode not in ("off", "mean"):
        raise ValueError(f"attention must be on, off or mean, not {mode!r}")
    from gcam_desktop.explain.attention import has_gates, reference_gate_means

    out = []
    for e in entries:
        out.append(e)
        if e.attention != "on" or not has_gates(e.model):
            continue
        means = None
        if mode == "mean":
            if reference is None:
                raise ValueError("attention 'mean' needs a reference folder of images")
            means = reference_gate_means(e.model, e.meta, reference, checkpoint=e.path)
        out.append(ModelEntry(f"{e.name} (attention {mode})", e.model, e.meta, e.path, attention=mode,
                              base=e.name, gate_means=means))
    return out


def split_dataset_root(data: Path, masks: Path | None) -> tuple[Path, Path | None]:
    """(folder of class folders, masks folder): a synthetic set's OUT resolves to OUT/images."""
    if masks is None and (data / "images").is_dir() and (data / "masks").is_dir():
        return data / "images", data / "masks"
    return data, masks


def mask_path_for(image: Path, root: Path, masks: Path | None) -> Path | None:
    """The mask file of `image`, if one exists: mirrored under `masks`, else found by swapping
    the nearest `images` folder of its path for a sibling `masks` folder."""
    candidates: list[Path] = []
    if masks is not None:
        try:
            rel = image.relative_to(root)
        except ValueError:
            rel = Path(image.parent.name) / image.name
        candidates.append(masks / rel)
    else:
        parts = list(image.parts)
        for i in range(len(parts) - 2, -1, -1):
            if parts[i] == "images":
                candidates.append(Path(*parts[:i], "masks", *parts[i + 1:]))
                break
    for c in candidates:
        for suffix in dict.fromkeys([".png", c.suffix, *sorted(IMAGE_EXTENSIONS)]):
            p = c.with_suffix(suffix)
            if p.is_file():
                return p
    return None


# ----------------------------------------------------------------------------------- per image


def select_images(root: Path, per_class: int | None = None, limit: int | None = None,
                  on_error=None) -> list[Path]:
    """The images under `root`, at most `per_class` per class folder and `limit` in all (None:
    no limit; a limit is at least 1, 0 would select nothing)."""
    for name, n in (("per_class", per_class), ("limit", limit)):
        if n is not None and n < 1:
            raise ValueError(f"{name} must be at least 1 (or None for no limit), not {n}")
    paths = list(scan_folder(root, on_error=on_error))
    if per_class is not None:
        counts: dict[Path, int] = {}
        kept = []
        for p in paths:
            if counts.get(p.parent, 0) < per_class:
                counts[p.parent] = counts.get(p.parent, 0) + 1
                kept.append(p)
        paths = kept
    return paths if limit is None else paths[:limit]
