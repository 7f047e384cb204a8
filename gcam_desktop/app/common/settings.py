"""The app's settings: one JSON file under the per-user config folder, written atomically.

Window geometry and dock state go to QSettings (binary blobs Qt owns); everything a user
would recognise (model slots, recent files, the controls' last values) lives here as JSON so
it survives Qt upgrades and can be read or edited by hand. Unknown or damaged content falls
back to defaults with a warning instead of stopping the program.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

from gcam_desktop.files import write_text
from gcam_desktop.models.pretrained_refs import absolute_ref
from gcam_desktop.paths import DEMO_ARCHS, user_config_dir
from training.config import TrainConfig

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
MAX_RECENT = 10
SLOT_NAMES = ("baseline", "SE", "s_se", "custom")
SLOT_DEFAULT_ARCHS = (*DEMO_ARCHS, "resnet50")
_RECIPE = TrainConfig()  # the Training tab starts from the trainer's defaults: the paper's recipe

DEFAULTS: dict[str, Any] = {
    "version": SETTINGS_VERSION,
    "slots": [
        {"name": name, "arch": arch, "checkpoint": None, "enabled": name != "custom"}
        for name, arch in zip(SLOT_NAMES, SLOT_DEFAULT_ARCHS)
    ],
    "device": "auto",
    "recent_folders": [],
    "recent_files": [],
    "recent_checkpoints": [],
    "last_folder": None,
    "controls": {
        "opacity": 0.5,
        "colormap": "jet",
        "method": "gradcam",
        "layer": "",            # "" = each model's default layer
        "target": -1,           # -1 = each model's own prediction
        "normalization": "per_map",
        "diff_a": 0,
        "diff_b": 1,
        "show_diff": False,
    },
    "training": {
        "data": "",
        "out": "",
        "archs": list(DEMO_ARCHS),
        "epochs": _RECIPE.epochs,
        "batch_size": _RECIPE.batch_size,
        "lr": _RECIPE.lr,
        "input_size": _RECIPE.input_size,
        "init": "scratch",
        "dedup": _RECIPE.dedup,
    },
}


def settings_path() -> Path:
    return user_config_dir() / "settings.json"


def window_settings_path() -> Path:
    """QSettings file (ini format) beside the JSON, so one env var isolates both."""
    return user_config_dir() / "window.ini"


def _merge(defaults: Any, loaded: Any) -> Any:
    """Loaded values over defaults, keeping the defaults' types and keys."""
    if isinstance(defaults, dict):
        if not isinstance(loaded, dict):
            return copy.deepcopy(defaults)
        out = copy.deepcopy(defaults)
        for key, value in loaded.items():
            out[key] = _merge(defaults[key], value) if key in defaults else value
        return out
    if defaults is None or loaded is None:
        return loaded
    if isinstance(defaults, bool) != isinstance(loaded, bool):
        return defaults
    if isinstance(defaults, (int, float)) and isinstance(loaded, (int, float)):
        return type(defaults)(loaded) if isinstance(defaults, float) else loaded
    return loaded if isinstance(loaded, type(defaults)) else copy.deepcopy(defaults)


class Settings:
    """Dict-like settings with load/save; `save()` is cheap enough to call on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else settings_path()
        self.data: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self.warning: str | None = None

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
        self.data = _merge(DEFAULTS, loaded)
        self._fix_slots()
        return self

    def _fix_slots(self) -> None:
        slots = self.data.get("slots")
        fixed = []
        for i, default in enumerate(DEFAULTS["slots"]):
            given = slots[i] if isinstance(slots, list) and i < len(slots) and isinstance(slots[i], dict) else {}
            fixed.append(_merge(default, given))
            fixed[-1]["name"] = default["name"]
        self.data["slots"] = fixed

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
