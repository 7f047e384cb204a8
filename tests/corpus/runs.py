"""Damaged training-run folders, for the tests of `gcam-train --resume` (torch-free).

Each DAMAGED_CONFIGS entry breaks a good run's config.json one way; `expect` is what the
refusal must name besides the file (the field at fault, or the kind of damage).
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class DamagedConfig:
    name: str
    damage: Callable[[dict], str]  # a good config.json record -> the damaged file's text
    expect: str


def _edit(fn: Callable[[dict], None]) -> Callable[[dict], str]:
    def damage(record: dict) -> str:
        record = copy.deepcopy(record)
        fn(record["config"])
        return json.dumps(record)

    return damage


def _set(key: str, value) -> Callable[[dict], str]:
    return _edit(lambda cfg: cfg.__setitem__(key, value))


def _drop(key: str) -> Callable[[dict], str]:
    return _edit(lambda cfg: cfg.pop(key))


DAMAGED_CONFIGS = [
    DamagedConfig("archs-a-number", _set("archs", 7), "'archs'"),
    DamagedConfig("archs-of-numbers", _set("archs", [1, 2]), "'archs'"),
    DamagedConfig("epochs-missing", _drop("epochs"), "'epochs'"),
    DamagedConfig("batch-size-missing", _drop("batch_size"), "'batch_size'"),
    DamagedConfig("lr-as-text", _set("lr", "1e-3"), "'lr'"),
    DamagedConfig("epochs-a-bool", _set("epochs", True), "'epochs'"),
    DamagedConfig("epochs-a-fraction", _set("epochs", 2.5), "'epochs'"),
    DamagedConfig("init-not-a-mapping", _set("init", ["x"]), "'init'"),
    DamagedConfig("seed-null", _set("seed", None), "'seed'"),
    DamagedConfig("epochs-negative", _set("epochs", -3), "--epochs"),
    DamagedConfig("arch-unknown", _set("archs", ["no_such_net"]), "no_such_net"),
    DamagedConfig("config-a-list", lambda r: json.dumps({**r, "config": [1, 2]}), '"config"'),
    DamagedConfig("config-missing", lambda r: json.dumps({k: v for k, v in r.items() if k != "config"}), '"config"'),
    DamagedConfig("not-json", lambda r: json.dumps(r)[:40], "cannot read it"),
    DamagedConfig("not-a-mapping", lambda r: "[1, 2, 3]", "not a run configuration"),
    # The probe's record (training/probe.py): a resumed run must probe the very images it began with.
    DamagedConfig("probe-not-a-mapping", lambda r: json.dumps({**r, "probe": [1, 2]}), '"probe"'),
    DamagedConfig("probe-image-moved", lambda r: json.dumps(
        {**r, "probe": {**r["probe"], "images": [{**r["probe"]["images"][0], "index": 999}]}}), "probe image"),
]


def with_damaged_config(run_dir: Path, into: Path, case: DamagedConfig) -> Path:
    """A copy of run_dir's config.json and split.json in `into`, the config damaged by `case`."""
    into.mkdir(parents=True, exist_ok=True)
    record = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    (into / "config.json").write_text(case.damage(record), encoding="utf-8")
    shutil.copy(run_dir / "split.json", into / "split.json")
    return into


def without_last_checkpoint(run_dir: Path, arch: str) -> Path:
    """Delete an arch's last.pt (what a user tidying up, or a lost file, leaves); its path."""
    last = run_dir / arch / "last.pt"
    last.unlink()
    return last
