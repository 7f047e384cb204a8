"""The app's settings: one JSON file under the per-user config folder, written atomically.

Window geometry and dock state go to QSettings (binary blobs Qt owns); everything a user
would recognise (model slots, recent files, the controls' last values) lives here as JSON so
it survives Qt upgrades and can be read or edited by hand. Each field's default, type and
range come from the dataclass that owns it (ControlValues, TrainConfig, the ones below); a
damaged field falls back to its default, the others are kept, and one warning names the file
and the fields dropped instead of stopping the program.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcam_desktop.app.common.control_values import ControlValues
from gcam_desktop.app.common.settings_schema import Spec, clean, defaults_of, specs_of
from gcam_desktop.files import write_text
from gcam_desktop.models.names import ARCHS
from gcam_desktop.models.pretrained_refs import absolute_ref
from gcam_desktop.paths import DEMO_ARCHS, user_config_dir
from training.config import TrainConfig

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
MAX_RECENT = 10
SLOT_NAMES = ("baseline", "SE", "s_se", "custom")
SLOT_DEFAULT_ARCHS = (*DEMO_ARCHS, "resnet50")


def _known_archs(archs) -> bool:
    return all(a in ARCHS for a in archs) and len(set(archs)) == len(archs)


@dataclass(frozen=True)
class General:
    """The settings' top level, beside the sections below."""

    version: int = SETTINGS_VERSION
    device: str = "auto"
    recent_folders: list[str] = field(default_factory=list)
    recent_files: list[str] = field(default_factory=list)
    recent_checkpoints: list[str] = field(default_factory=list)
    last_folder: str | None = None


@dataclass(frozen=True)
class SavedSlot:
    """One model slot as remembered (the slot manager keeps more while it runs)."""

    name: str = ""
    arch: str = field(default="resnet50", metadata={"valid": lambda v: v in ARCHS})
    checkpoint: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class TrainingForm:
    """What the Training tab remembers beyond the trainer's recipe (RECIPE_FIELDS)."""

    data: str = ""
    out: str = ""
    archs: list[str] = field(default_factory=lambda: list(DEMO_ARCHS), metadata={"valid": _known_archs})
    init: str = "scratch"             # or a checkpoint to start from
    processes: int | None = field(default=None, metadata={"valid": lambda v: v is None or 1 <= v <= 64})
    # processes None: not chosen, one per GPU the engine finds


@dataclass(frozen=True)
class FamiliesChoice:
    """The Families tab's two methods (any family; one the engine no longer has falls back)."""

    method_a: str = "gradcam"
    method_b: str = "lrp"


# The recipe the form shows: TrainConfig's fields, defaults (the paper's recipe) and checks.
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "input_size", "dedup", "allow_unvalidated_classes",
                 "shuffle_labels", "probe", "keep_every")


def _recipe_accepts(name: str):
    def accepts(value) -> bool:
        try:
            TrainConfig(**{name: value}).validate()
        except (TypeError, ValueError):
            return False
        return True
    return accepts


GENERAL = specs_of(General)
CONTROLS = specs_of(ControlValues)
TRAINING = specs_of(TrainingForm) + specs_of(TrainConfig, only=RECIPE_FIELDS,
                                              valid={n: _recipe_accepts(n) for n in RECIPE_FIELDS})
SLOT = specs_of(SavedSlot)
FAMILIES = specs_of(FamiliesChoice)


def _slot_specs(i: int) -> list[Spec]:
    """SLOT with slot i's own name, architecture and on/off as defaults."""
    own = {"name": SLOT_NAMES[i], "arch": SLOT_DEFAULT_ARCHS[i], "enabled": SLOT_NAMES[i] != "custom"}
    return [Spec(s.name, own.get(s.name, s.default), s.check) for s in SLOT]


DEFAULTS: dict[str, Any] = {
    **defaults_of(GENERAL),
    "slots": [defaults_of(_slot_specs(i)) for i in range(len(SLOT_NAMES))],
    "controls": defaults_of(CONTROLS),
    "training": defaults_of(TRAINING),
    "families": defaults_of(FAMILIES),
}


def settings_path() -> Path:
    return user_config_dir() / "settings.json"


def window_settings_path() -> Path:
    """QSettings file (ini format) beside the JSON, so one env var isolates both."""
    return user_config_dir() / "window.ini"


def validated(loaded: dict) -> tuple[dict[str, Any], list[str]]:
    """Loaded settings with every damaged field replaced by its default, and the fields dropped."""
    data, dropped = clean(GENERAL, loaded, "")
    for key, specs in (("controls", CONTROLS), ("training", TRAINING), ("families", FAMILIES)):
        if key in loaded:
            data[key], bad = clean(specs, loaded[key], key)
            dropped += bad
        else:
            data[key] = defaults_of(specs)
    data["slots"], bad = _slots(loaded.get("slots"))
    return data, dropped + bad


def _slots(given: Any) -> tuple[list[dict], list[str]]:
    """One entry per slot, by position (as the slot manager saves them); names are fixed."""
    if given is None:
        return copy.deepcopy(DEFAULTS["slots"]), []
    dropped = [] if isinstance(given, list) else ["slots"]
    given = given if isinstance(given, list) else []
    out = []
    for i, name in enumerate(SLOT_NAMES):
        if i < len(given) and isinstance(given[i], dict):
            slot, bad = clean(_slot_specs(i), given[i], f"slots[{i}]")
            dropped += bad
        else:
            slot = defaults_of(_slot_specs(i))
            dropped += [f"slots[{i}]"] if i < len(given) else []
        slot["name"] = name
        out.append(slot)
    return out, dropped


class Settings:
    """Dict-like settings with load/save; `save()` is cheap enough to call on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else settings_path()
        # QSettings (geometry, splitters) beside the JSON; the default file for the default JSON.
        self.window_path = self.path.with_name("window.ini") if path else window_settings_path()
        self.data: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self.warning: str | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> "Settings":
        self = cls(path)
        if not self.path.exists():
            return self
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("top level is not an object")
        except (OSError, ValueError) as exc:
            self.warning = f"{self.path}: unreadable settings ({exc}); using defaults"
            log.warning(self.warning)
            return self
        self.data, dropped = validated(loaded)
        if dropped:
            self.warning = f"{self.path}: damaged settings ignored, defaults used for {', '.join(dropped)}"
            log.warning(self.warning)
        return self

    def scratch_copy(self) -> "Settings":
        """The same values saved to a throwaway folder (removed with the copy), so a smoke test
        runs the user's setup without changing it (the JSON and the window's QSettings)."""
        scratch = tempfile.TemporaryDirectory(prefix="gcam-desktop-settings-")
        copy_ = Settings(Path(scratch.name) / "settings.json")
        copy_.data = copy.deepcopy(self.data)
        copy_.warning = self.warning
        if self.window_path.exists():
            shutil.copyfile(self.window_path, copy_.window_path)
        copy_._scratch = scratch
        return copy_

    def save(self) -> None:
        try:
            write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True))
        except OSError as exc:
            log.warning("%s: could not save settings (%s)", self.path, exc)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    @property
    def controls(self) -> dict[str, Any]:
        return self.data["controls"]

    def add_recent(self, key: str, path: str | os.PathLike) -> None:
        """Most recent first, unique, at most MAX_RECENT; absolute, whatever folder it was given from."""
        path = absolute_ref(path)
        items = [p for p in self.data.get(key, []) if p != path]
        self.data[key] = [path, *items][:MAX_RECENT]
