"""The attention figures of one image, for the app's Attention view and its export. Qt-free.

Input: {model label: {gate name: C vector}} (one image's gates per model, e.g. SE-ResNet50 and
s_se-ResNet50). Output: per model and gate the summary (mean, spread, share damped / kept), and
per stage the distance between the models' gates there. s_se's stage gate is computed from the
stage's first block, so SE's first block (`layer3.0`) is the gate it is compared with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
from torch import Tensor

from gcam_desktop.files import write_json, write_npz

from .attention import gate_distance, summarize_gate

FORMAT = "gcam-desktop/attention"
VERSION = 1


def stage_of(gate: str) -> str:
    """`layer3.2` and `layer3` both belong to stage `layer3`."""
    return gate.split(".")[0]


def by_stage(gates: Mapping[str, object]) -> dict[str, list[str]]:
    """Gate names grouped by stage, in order: {"layer3": ["layer3.0", ..., "layer3.5"]}."""
    out: dict[str, list[str]] = {}
    for name in gates:
        out.setdefault(stage_of(name), []).append(name)
    return out


def stage_gate(gates: Mapping[str, Tensor], stage: str) -> str | None:
    """The gate that stands for a stage: s_se's own (`layer3`), else the first block's (`layer3.0`)."""
    names = by_stage(gates).get(stage, [])
    return stage if stage in names else (names[0] if names else None)


def attention_figures(gates: Mapping[str, Mapping[str, Tensor]], *, image: str | None = None,
                      archs: Mapping[str, str] | None = None, extra: Mapping | None = None) -> dict:
    """Summaries of every gate of every model, and each stage's distance between every two models
    (the value distributions: two models' channels are unrelated features, docs/adr/0012)."""
    models = {}
    for label, gs in gates.items():
        models[label] = {"arch": (archs or {}).get(label), "gates": {
            name: summarize_gate(g).as_dict() for name, g in gs.items()}}
    stages: dict[str, list[dict]] = {}
    labels = list(gates)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            for stage in by_stage(gates[a]):
                ga, gb = stage_gate(gates[a], stage), stage_gate(gates[b], stage)
                if ga is None or gb is None:
                    continue
                d = gate_distance(gates[a][ga], gates[b][gb])
                stages.setdefault(stage, []).append({"a": a, "gate_a": ga, "b": b, "gate_b": gb,
                                                     "distribution": d.distribution})
    out = {"format": FORMAT, "version": VERSION, "image": image, "models": models, "stages": stages}
    if extra:
        out.update(extra)
    return out


def write_gates_npz(path: str | os.PathLike, gates: Mapping[str, Mapping[str, Tensor]]) -> Path:
    """One array per model and gate, named `<model label>/<gate>` (C float32 values), atomically."""
    return write_npz(path, {f"{label}/{name}": np.asarray(g.detach().float().cpu().reshape(-1).numpy(),
                                                          dtype=np.float32)
                            for label, gs in gates.items() for name, g in gs.items()})


def write_figures_json(path: str | os.PathLike, figures: Mapping) -> Path:
    return write_json(path, figures)
