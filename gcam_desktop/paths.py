"""Where the program keeps things. Qt-free and torch-free so the app can import it at start-up.

GCAM_DESKTOP_DATA_DIR overrides the per-user data folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gcam_desktop.models.names import RESNET_ARCHS

APP_NAME = "gcam-desktop"
# The demo trains, and opens, the three variants the paper compares.
DEMO_ARCHS = RESNET_ARCHS


def user_data_dir() -> Path:
    override = os.environ.get("GCAM_DESKTOP_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_config_dir() -> Path:
    override = os.environ.get("GCAM_DESKTOP_DATA_DIR")
    if override:
        return Path(override) / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def runs_dir() -> Path:
    """Default parent folder of training runs."""
    return user_data_dir() / "runs"


def demo_dir() -> Path:
    """Where `gcam-train demo` leaves its checkpoints and the app looks for them."""
    return user_data_dir() / "demo"


def demo_checkpoint(arch: str) -> Path:
    return demo_dir() / f"{arch}.pt"


def resources_dir() -> Path:
    """The installed `resources/` folder, also inside a PyInstaller bundle."""
    if getattr(sys, "frozen", False):
        base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
        return base / "gcam_desktop" / "resources"
    import gcam_desktop.resources as res

    return Path(res.__file__).parent


def samples_dir() -> Path:
    """Sample images shipped with the program (synthetic objects with masks)."""
    return resources_dir() / "samples"


def photos_dir() -> Path:
    """Real photographs (CC0 / public domain), one folder per ImageNet class they show."""
    return samples_dir() / "photos"


def icons_dir() -> Path:
    return resources_dir() / "icons"
