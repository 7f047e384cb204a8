"""`gcam-train demo`: the synthetic set, then the three ResNet50 variants on a small preset.

The preset (config.DEMO_SYNTH, config.DEMO_TRAIN) was tuned to pass 90 % validation accuracy
for each model within minutes on a 2-core CPU; with a GPU it takes seconds. Each finished
model's best.pt is copied (atomically) to gcam_desktop.paths.demo_checkpoint(arch), where the
app looks for it. Running the demo again resumes a stopped demo run, or, once finished, just
puts the checkpoints in place again.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint, demo_dir

from .config import DEMO_SYNTH, DEMO_TRAIN, TrainConfig
from .events import EventSink
from gcam_desktop.files import atomic_write
from .run import train
from .stopping import StopFlag
from .synth import make_synthetic, read_manifest

log = logging.getLogger("training")


def demo_config(synth_dir: Path, run_dir: Path, archs=DEMO_ARCHS, recipe: dict = DEMO_TRAIN) -> TrainConfig:
    # The synthetic set has no copies by construction: no duplicate check (it would add a
    # fingerprint pass to the demo's minutes).
    return TrainConfig(data=str(synth_dir), archs=list(archs), out=str(run_dir), dup_check=False, **recipe)


def _same_preset(run_dir: Path, cfg: TrainConfig, recipe: dict) -> bool:
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    mine = cfg.to_json()
    return all(saved.get(k) == mine.get(k) for k in set(recipe) | {"archs"})


def install_demo_checkpoint(arch: str, best: str | Path) -> Path:
    """Copy a finished best.pt to where the app finds the demo model (atomic)."""
    target = demo_checkpoint(arch)
    atomic_write(target, lambda tmp: shutil.copyfile(best, tmp))
    return target


def run_demo(on_event: EventSink | None = None, stop: StopFlag | None = None, device: str | None = None,
             workers: int | None = None, archs=DEMO_ARCHS, root: str | Path | None = None,
             synth: dict = DEMO_SYNTH, recipe: dict = DEMO_TRAIN) -> dict:
    """Make the set, train `archs` (resuming an interrupted demo run), install the checkpoints.

    `root` holds the set (`synth/`) and the run (`run/`); default gcam_desktop.paths.demo_dir().
    `synth` and `recipe` replace the preset (tests use a tiny one).
    """
    root = Path(root) if root is not None else demo_dir()
    synth_dir, run_dir = root / "synth", root / "run"
    log.info("demo: synthetic set in %s", synth_dir)
    old = read_manifest(synth_dir)
    stale_data = old is not None and old.get("spec") != dict(synth)
    make_synthetic(synth_dir, force=True, **synth)
    cfg = demo_config(synth_dir, run_dir, archs, recipe)
    if run_dir.exists() and (stale_data or not _same_preset(run_dir, cfg, recipe)):
        log.info("demo: the previous demo run used another preset; starting afresh")
        shutil.rmtree(run_dir)

    def after_arch(arch: str, result: dict) -> None:
        if result.get("status") == "finished":
            target = install_demo_checkpoint(arch, result["best"])
            log.info("demo: %s ready at %s", arch, target)

    kwargs = dict(on_event=on_event, stop=stop, device=device, workers=workers, after_arch=after_arch)
    if (run_dir / "config.json").exists():
        return train(resume=run_dir, **kwargs)
    return train(cfg, **kwargs)
