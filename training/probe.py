"""The probe (`gcam-train --probe N`): a few fixed validation images explained after every epoch.

Which images: N of the validation split, seeded, one per class first (then a second of each,
and so on), chosen once per run and recorded in config.json, so a resumed run probes the same
ones. After each epoch rank 0 explains them with Grad-CAM at the layer the checkpoints name as
default (the model unwrapped, in eval mode through the engine, which leaves it as it found it),
for each image's true class: the same target every epoch, so the epochs compare like with like.
The maps at the layer's grid, the predictions, probabilities and labels go into
RUN_DIR/<arch>/probe/epoch-NNN.npz (atomically) and into a `probe` event.

Torch-free at import: the app reads the files back (`read_epoch`, `read_epochs`) without torch.
See docs/adr/0033-probe-during-training.md.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("training")

FORMAT = "gcam-desktop/probe"
METHOD = "gradcam"
PROBE_DIR = "probe"
SPLIT = "val"


class ProbeError(ValueError):
    """A probe record or file that cannot be used; the message names the file and the problem."""


# ------------------------------------------------------------------------------ which images

def choose_indices(labels: Sequence[int], n: int, seed: int) -> list[int]:
    """N positions into `labels`: one per class first, then a second per class, and so on.

    Seeded: which image of a class, and which classes when N is below the class count. The
    result is ordered by class, then by round, so the strip shows the classes in label order.
    """
    rng = random.Random(f"gcam-probe:{int(seed)}")  # a text seed is hashed the same in every process
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    classes = sorted(by_class)
    for c in classes:
        rng.shuffle(by_class[c])
    rng.shuffle(classes)
    picked: list[tuple[int, int, int]] = []  # (class, round, index)
    depth = max((len(v) for v in by_class.values()), default=0)
    for rnd in range(depth):
        for c in classes:
            if len(picked) == n:
                break
            if rnd < len(by_class[c]):
                picked.append((c, rnd, by_class[c][rnd]))
    return [i for _, _, i in sorted(picked)]


@dataclass
class ProbeChoice:
    """The probe images: positions in the validation split, their paths (relative to the data
    root, as split.json has them) and labels."""

    indices: list[int]
    paths: list[str]
    labels: list[int]
    seed: int

    def to_json(self) -> dict:
        return {"split": SPLIT, "method": METHOD, "seed": self.seed,
                "images": [{"index": i, "path": p, "label": y}
                           for i, p, y in zip(self.indices, self.paths, self.labels)]}

    @classmethod
    def from_json(cls, data: Any, items: Sequence[tuple[str, int]], where: str) -> "ProbeChoice":
        """The recorded choice, checked against the run's validation split (ProbeError if the
        split no longer holds those images at those positions)."""
        try:
            images = data["images"]
            indices = [int(im["index"]) for im in images]
            paths = [str(im["path"]) for im in images]
            labels = [int(im["label"]) for im in images]
            seed = int(data.get("seed", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProbeError(f"{where}: damaged \"probe\" record ({exc})") from None
        for i, p, y in zip(indices, paths, labels):
            if not 0 <= i < len(items) or tuple(items[i]) != (p, y):
                raise ProbeError(f"{where}: probe image {p} (label {y}) is not at position {i} of the "
                                 f"run's validation split; split.json changed since the run began")
        return cls(indices, paths, labels, seed)


def choose_probe(items: Sequence[tuple[str, int]], n: int, seed: int) -> ProbeChoice | None:
    """The probe of a new run: N images of the validation split `items`; None with N = 0 or
    no validation images."""
    if n <= 0 or not items:
        if n > 0:
            log.info("--probe %d: no validation images to probe; the probe is off", n)
        return None
    idx = choose_indices([y for _, y in items], n, seed)
    return ProbeChoice(idx, [items[i][0] for i in idx], [int(items[i][1]) for i in idx], int(seed))


def recorded_choice(config_file: Path, items: Sequence[tuple[str, int]]) -> ProbeChoice | None:
    """The probe a run recorded in its config.json. None when it has none (--probe 0, or a run
    made before the probe existed, whose saved options read back with the default --probe: the
    record, not that option, decides)."""
    try:
        data = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{config_file}: cannot read it ({exc})") from exc
    record = data.get("probe") if isinstance(data, dict) else None
    if record is None:
        return None
    return ProbeChoice.from_json(record, items, str(config_file))


# ------------------------------------------------------------------------------ files

def epoch_file(arch_dir: str | Path, epoch: int) -> Path:
    return Path(arch_dir) / PROBE_DIR / f"epoch-{int(epoch):03d}.npz"


@dataclass
class ProbeEpoch:
    """One epoch's probe, as written: maps N x h x w at the layer's grid (Grad-CAM before
    normalisation, non-negative), probs N x classes."""

    arch: str
    epoch: int
    layer: str
    method: str
    paths: list[str]        # absolute
    labels: np.ndarray      # N, the true classes (also the explained ones)
    predictions: np.ndarray  # N
    probs: np.ndarray       # N x classes
    maps: np.ndarray        # N x h x w
    class_names: list[str]
    file: Path | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {"format": np.array(FORMAT), "arch": np.array(self.arch), "epoch": np.array(self.epoch),
                "layer": np.array(self.layer), "method": np.array(self.method),
                "paths": np.array(self.paths, dtype=str), "labels": np.asarray(self.labels, dtype=np.int64),
                "predictions": np.asarray(self.predictions, dtype=np.int64),
                "probs": np.asarray(self.probs, dtype=np.float32), "maps": np.asarray(self.maps, dtype=np.float32),
                "class_names": np.array(self.class_names, dtype=str)}

    def event_fields(self) -> dict:
        """The `probe` event's fields (training/events.py SCHEMA), without the timing."""
        n = len(self.paths)
        rows = np.arange(n)
        return {"arch": self.arch, "epoch": self.epoch, "file": str(self.file), "layer": self.layer,
                "method": self.method, "paths": list(self.paths), "labels": [int(v) for v in self.labels],
                "predictions": [int(v) for v in self.predictions],
                "confidence": [float(v) for v in self.probs[rows, self.predictions]],
                "label_prob": [float(v) for v in self.probs[rows, self.labels]],
                "grid": [int(self.maps.shape[1]), int(self.maps.shape[2])],
                "maps": np.asarray(self.maps, dtype=np.float32).tolist()}


def write_epoch(arch_dir: str | Path, probe: ProbeEpoch) -> Path:
    from gcam_desktop.files import write_npz

    path = epoch_file(arch_dir, probe.epoch)
    write_npz(path, probe.arrays(), fsync=False)  # atomic; a lost file costs one epoch's maps, not the run
    probe.file = path
    return path


def read_epoch(path: str | Path) -> ProbeEpoch:
    """One epoch file back; ProbeError naming the file when it is not a probe file of ours."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != FORMAT:
                raise ProbeError(f"{path}: not a probe file of gcam-train")
            out = ProbeEpoch(str(z["arch"]), int(z["epoch"]), str(z["layer"]), str(z["method"]),
                             [str(p) for p in z["paths"]], z["labels"], z["predictions"], z["probs"],
                             z["maps"], [str(c) for c in z["class_names"]], path)
    except ProbeError:
        raise
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ProbeError(f"{path}: cannot read the probe file ({exc})") from exc
    n = len(out.paths)
    if not (out.labels.shape == out.predictions.shape == (n,) and out.probs.shape[0] == n
            and out.maps.ndim == 3 and out.maps.shape[0] == n):
        raise ProbeError(f"{path}: damaged probe file (its arrays disagree on the number of images)")
    return out


def read_epochs(arch_dir: str | Path) -> list[ProbeEpoch]:
    """Every epoch file of an arch's folder, in epoch order; damaged ones are logged and left out."""
    out = []
    for f in sorted((Path(arch_dir) / PROBE_DIR).glob("epoch-*.npz")):
        try:
            out.append(read_epoch(f))
        except ProbeError as exc:
            log.warning("%s", exc)
    return sorted(out, key=lambda p: p.epoch)


def drop_after(arch_dir: str | Path, epochs_done: int) -> None:
    """Remove epoch files past `epochs_done` (a resume redoes those epochs, as metrics.jsonl's
    lines past last.pt are dropped)."""
    for f in (Path(arch_dir) / PROBE_DIR).glob("epoch-*.npz"):
        try:
            epoch = int(f.stem.split("-", 1)[1])
        except ValueError:
            continue
        if epoch > epochs_done:
            f.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ running it

class Probe:
    """Explains the probe images with one arch's model after an epoch (rank 0 only).

    `images` is the validation ImageSet: the probe sees the images exactly as validation does
    (decoded, squashed to the input size, normalised by `normalize`).
    """

    def __init__(self, choice: ProbeChoice, images, normalize, root: str | Path, arch: str, layer: str,
                 class_names: Sequence[str], arch_dir: str | Path) -> None:
        import torch

        pictures = [(images.image(i), p, y) for i, p, y in zip(choice.indices, choice.paths, choice.labels)]
        kept = [k for k in pictures if k[0] is not None]  # an image gone from disk since the check is left out
        self.paths = [str(Path(root) / p) for _, p, _ in kept]
        self.labels = [y for _, _, y in kept]
        self.x = normalize(torch.stack([img for img, _, _ in kept])) if kept else None
        self.arch, self.layer, self.class_names = arch, layer, list(class_names)
        self.dir = Path(arch_dir)

    def run(self, model, epoch: int) -> dict | None:
        """Explain, write the epoch's file; the `probe` event's fields (None: no images)."""
        if self.x is None:
            return None
        from gcam_desktop.explain import explain

        t0 = time.perf_counter()
        ex = explain(model, self.x, METHOD, layer=self.layer, targets=self.labels)
        probs = ex.probs.float().cpu().numpy()
        result = ProbeEpoch(self.arch, int(epoch), ex.layer or self.layer, METHOD, self.paths,
                            np.asarray(self.labels, dtype=np.int64), probs.argmax(1).astype(np.int64), probs,
                            ex.raw[:, 0].float().cpu().numpy(), self.class_names)
        write_epoch(self.dir, result)
        return {**result.event_fields(), "seconds": time.perf_counter() - t0}
