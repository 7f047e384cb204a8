"""What a model knows: its classes by name, and plain statements when a picture lies outside them.

Models with different class sets sit side by side, so a class is picked by name and looked up
in each model. No out-of-distribution score is made up: a panel states only facts it can check
(the picture's folder names a class this model lacks but another loaded model has; a model
trained on a synthetic set is shown a picture that is not from one). Torch-free and Qt-free.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

SYNTH_MANIFEST = "synth.json"      # training/synth.py writes it at a synthetic set's root
SYNTH_FORMAT = "gcam-desktop/synth"


def class_names(meta: Mapping) -> list[str]:
    return [str(c) for c in (meta.get("class_names") or [])]


def class_index(meta: Mapping, name: str) -> int | None:
    """The index of class `name` in this model (exact, else case-insensitive), or None."""
    names = class_names(meta)
    if name in names:
        return names.index(name)
    lowered = [c.lower() for c in names]
    return lowered.index(name.lower()) if name.lower() in lowered else None


def union_of_classes(metas: Iterable[Mapping]) -> list[str]:
    """Every class name of the given models, once, in the order the models list them."""
    seen: dict[str, None] = {}
    for meta in metas:
        for name in class_names(meta):
            seen.setdefault(name, None)
    return list(seen)


def describe_classes(meta: Mapping, shown: int = 12) -> tuple[str, str]:
    """("1000 classes", tooltip listing them) for a panel or card."""
    names = class_names(meta)
    n = int(meta.get("num_classes") or len(names))
    head = f"{n} class{'es' if n != 1 else ''}"
    if meta.get("dataset"):
        head += f" ({meta['dataset']})"
    listed = ", ".join(names[:shown]) + (f", \u2026 ({n - shown} more)" if n > shown else "")
    return head, f"This model knows {n} classes: {listed}" if names else f"This model knows {n} classes"


@functools.lru_cache(maxsize=256)
def _synthetic_root(folder: str) -> str | None:
    """The synthetic set `folder` belongs to (an ancestor holding its manifest), or None."""
    p = Path(folder)
    for d in (p, *p.parents):
        try:
            data = json.loads((d / SYNTH_MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == SYNTH_FORMAT:
            return str(d)
    return None


def _in_synthetic_set(folder: Path) -> bool:
    """Inside a synthetic set's images (its layout: ROOT/synth.json, ROOT/images/<class>/...)."""
    root = _synthetic_root(str(folder))
    if root is None:
        return False
    rel = folder.relative_to(root).parts
    return rel[:1] in ((), ("images",))


def is_synthetic_picture(path: str | os.PathLike) -> bool:
    return _in_synthetic_set(Path(path).resolve().parent)


def is_synthetic_model(meta: Mapping, checkpoint: str | None = None) -> bool:
    """Trained on a synthetic set: its recorded data folder is one, or it is a demo checkpoint."""
    data = meta.get("data")
    if data and _in_synthetic_set(Path(str(data)).expanduser().resolve()):
        return True
    if checkpoint:
        from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint

        try:
            return any(Path(checkpoint).resolve() == demo_checkpoint(a).resolve() for a in DEMO_ARCHS)
        except OSError:
            return False
    return False


def outside_world(meta: Mapping, picture: str | os.PathLike, others: Sequence[Mapping] = (),
                  checkpoint: str | None = None) -> str | None:
    """A plain statement when `picture` is clearly outside what this model knows, else None.

    `others` are the other loaded models' metadata.
    """
    names = class_names(meta)
    folder = Path(picture).parent.name
    if folder and class_index(meta, folder) is None:
        if any(class_index(o, folder) is not None for o in others):
            return (f"This picture's folder, \u201c{folder}\u201d, is not one of the {len(names)} classes "
                    f"this model knows (another loaded model knows it). Its prediction can only name one "
                    f"of its own classes.")
    if is_synthetic_model(meta, checkpoint) and not is_synthetic_picture(picture):
        shown = ", ".join(names[:6]) + (", \u2026" if len(names) > 6 else "")
        return (f"This model was trained only on synthetic shapes ({shown}); this picture is not one of "
                f"them, so its prediction and map say nothing about what the picture shows.")
    return None
