"""Finding a dataset on disk, checking every image once, and the stratified seeded split.

Two layouts are accepted:
  * ImageFolder: DIR/<class>/... images (recursively); the trainer splits it into train / val /
    test, stratified by class and seeded, and saves the split in the run (split.json).
  * Pre-split: DIR/train/<class>/..., DIR/val/<class>/... (also "valid" or "validation") and
    optionally DIR/test/<class>/...; used as it is.
A synthetic set made by `gcam-train synth` is recognised by its manifest and read from its
`images/` folder.

Every image is decoded once with the shared loader before training (in threads), so a corrupt
file is reported before the first epoch, not in the middle of the 37th; see
docs/adr/0004-trainer-data-and-resume.md. Torch-free.
"""

from __future__ import annotations

import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from gcam_desktop.imaging import IMAGE_EXTENSIONS, ImageLoadError, load_image, scan_folder

from .synth import images_root

SPLITS = ("train", "val", "test")
_VAL_NAMES = ("val", "valid", "validation")
SPLIT_FORMAT = "gcam-desktop/split"


class DataError(Exception):
    """The dataset cannot be trained on; the message says where and what to change."""


Item = tuple[str, int]  # (path relative to the data root, POSIX separators; label)


@dataclass
class DatasetSplit:
    root: str
    layout: str  # "imagefolder" or "presplit"
    class_names: list[str]
    train: list[Item]
    val: list[Item]
    test: list[Item]
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    seed: int = 0
    val_fraction: float = 0.0
    test_fraction: float = 0.0
    duplicates: dict | None = None  # training/duplicates.py's report, when the check ran

    def items(self, split: str) -> list[Item]:
        return getattr(self, split)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.items(s)) for s in SPLITS}

    def to_json(self) -> dict:
        return {"format": SPLIT_FORMAT, "version": 1, "root": self.root, "layout": self.layout,
                "class_names": self.class_names, "seed": self.seed, "val_fraction": self.val_fraction,
                "test_fraction": self.test_fraction, "sizes": self.sizes(),
                **{s: [[p, int(y)] for p, y in self.items(s)] for s in SPLITS}, "skipped": self.skipped,
                **({"duplicates": self.duplicates} if self.duplicates is not None else {})}

    @classmethod
    def from_json(cls, data: dict, where: str = "split.json") -> "DatasetSplit":
        if not isinstance(data, dict) or data.get("format") != SPLIT_FORMAT:
            raise DataError(f"{where}: not a split file written by this trainer")
        try:
            return cls(root=str(data["root"]), layout=str(data["layout"]),
                       class_names=[str(c) for c in data["class_names"]],
                       **{s: [(str(p), int(y)) for p, y in data[s]] for s in SPLITS},
                       skipped=list(data.get("skipped", [])), seed=int(data.get("seed", 0)),
                       val_fraction=float(data.get("val_fraction", 0)),
                       test_fraction=float(data.get("test_fraction", 0)),
                       duplicates=data.get("duplicates"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: damaged split file ({exc})") from exc

    def save(self, path: str | os.PathLike) -> None:
        from gcam_desktop.files import write_json

        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DatasetSplit":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the saved split ({exc})") from exc
        return cls.from_json(data, str(path))


# ----------------------------------------------------------------------------- discovery

def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot read folder ({exc.strerror or exc})") from exc


def _class_images(folder: Path, warn: Callable[[str], None]) -> list[Path]:
    return list(scan_folder(folder, on_error=lambda p, msg: warn(f"{p}: {msg}; skipped")))


def _scan_classes(root: Path, warn: Callable[[str], None], what: str) -> dict[str, list[Path]]:
    """{class name: image paths} for an ImageFolder at root, with the checks every run needs."""
    if not root.exists():
        from gcam_desktop.files import why_missing

        raise DataError(f"{root}: {why_missing(root, 'folder')}")
    if not root.is_dir():
        raise DataError(f"{root}: is a file; --data takes a folder with one subfolder per class")
    classes = _subfolders(root)
    if not classes:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS] if root.is_dir() else []
        if loose:
            raise DataError(f"{root}: holds {len(loose)} images but no class subfolders; put each class's "
                            f"images in a subfolder named after the class (ImageFolder layout)")
        raise DataError(f"{root}: {what} is empty; expected one subfolder per class, each holding images")
    found = {c.name: _class_images(c, warn) for c in classes}
    empty = [name for name, files in found.items() if not files]
    if empty:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        listed = ", ".join(str(root / n) for n in empty)
        raise DataError(f"class folder{'s' if len(empty) > 1 else ''} with no images: {listed} "
                        f"(image types read: {exts}); add images or remove the folder")
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if loose:
        warn(f"{root}: {len(loose)} images lie outside any class folder and are ignored "
             f"(first: {loose[0].name})")
    return found


def _presplit_dirs(root: Path) -> dict[str, Path] | None:
    if not root.is_dir():
        return None
    names = {p.name.lower(): p for p in _subfolders(root)}
    val = next((names[n] for n in _VAL_NAMES if n in names), None)
    if "train" not in names or val is None:
        return None
    dirs = {"train": names["train"], "val": val}
    if "test" in names:
        dirs["test"] = names["test"]
    return dirs


@dataclass
class Listing:
    """Every candidate image of a dataset before decoding: per split, or all in "all"."""

    root: Path
    layout: str
    class_names: list[str]
    parts: dict[str, list[tuple[Path, int]]]


def find_dataset(data_dir: str | os.PathLike, warn: Callable[[str], None] = lambda m: None) -> Listing:
    """List a dataset's classes and images; DataError for layouts that cannot be trained on."""
    root = images_root(Path(data_dir).expanduser())
    presplit = _presplit_dirs(root)
    if presplit is None:
        found = _scan_classes(root, warn, "the folder")
        names = sorted(found)
        if len(names) < 2:
            raise DataError(f"{root}: only one class folder ({names[0]}); a classifier needs at least two")
        items = [(p, y) for y, n in enumerate(names) for p in found[n]]
        return Listing(root, "imagefolder", names, {"all": items})

    per_split = {s: _scan_classes(d, warn, f"the {s} folder") for s, d in presplit.items()}
    names = sorted(per_split["train"])
    if len(names) < 2:
        raise DataError(f"{presplit['train']}: only one class folder ({names[0]}); a classifier needs at least two")
    parts: dict[str, list[tuple[Path, int]]] = {}
    for s, found in per_split.items():
        unknown = sorted(set(found) - set(names))
        if unknown:
            raise DataError(f"{presplit[s]}: class folder{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)} not in {presplit['train']}; every class needs training images")
        missing = sorted(set(names) - set(found))
        if missing:
            warn(f"{presplit[s]}: no folder for class{'es' if len(missing) > 1 else ''} {', '.join(missing)}")
        parts[s] = [(p, names.index(c)) for c in sorted(found) for p in found[c]]
    return Listing(root, "presplit", names, parts)


# ----------------------------------------------------------------------------- decoding

def decode_resized(path: str | os.PathLike, size: int) -> np.ndarray:
    """S x S x 3 uint8: the shared loader, then exactly the resize of imaging.preprocess."""
    img = load_image(path, min_size=(int(size), int(size)))  # a big JPEG decoded no larger than needed
    return np.array(img.resize((int(size), int(size)), Image.BILINEAR), dtype=np.uint8)  # writable copy


def decode_all(paths: Sequence[Path], size: int, keep: bool, workers: int | None = None,
               progress: Callable[[int], None] | None = None) -> tuple[np.ndarray | None, list[dict]]:
    """Decode every image once (threads: PIL releases the GIL while decoding).

    Returns (N x S x S x 3 uint8 array of all images when `keep`, else None; failures as
    [{"path", "reason"}]). Rows of failed images are left zero; callers drop them.
    """
    workers = workers or min(8, os.cpu_count() or 1)
    out = np.zeros((len(paths), size, size, 3), np.uint8) if keep else None
    failures: list[dict] = []

    def one(i_path):
        i, path = i_path
        try:
            arr = decode_resized(path, size)
        except ImageLoadError as exc:
            return i, exc.reason
        if out is not None:
            out[i] = arr
        return i, None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (i, reason) in enumerate(pool.map(one, enumerate(paths), chunksize=16), start=1):
            if reason is not None:
                failures.append({"path": str(paths[i]), "reason": reason})
            if progress:
                progress(done)
    return out, failures


# ----------------------------------------------------------------------------- splitting

def _count(n: int, fraction: float) -> int:
    if fraction <= 0:
        return 0
    k = int(round(n * fraction))
    return max(k, 1) if n >= 3 else k  # a class of 3+ always lends one image to a wanted split


def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) images a class of n lends; at least one stays for training."""
    n_val, n_test = _count(n, val_fraction), _count(n, test_fraction)
    while n_val + n_test > n - 1 and (n_val or n_test):  # keep at least one for training
        if n_test >= n_val and n_test:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def min_images_for_validation(val_fraction: float, test_fraction: float) -> int:
    """The fewest images a class needs to lend one to validation with these fractions."""
    n = 1
    while _split_counts(n, val_fraction, test_fraction)[0] == 0 and n < 10_000:
        n += 1
    return n


def check_validation_possible(counts: Mapping[str, int], val_fraction: float, test_fraction: float,
                              allow: bool, warn: Callable[[str], None] = lambda m: None) -> None:
    """Refuse (DataError) when a class is too small to lend an image to validation, unless
    `allow`: its accuracy would go unmeasured, best.pt would be chosen without it, and on such
    tiny sets the training accuracy (train mode, batch statistics) flatters the model."""
    if val_fraction <= 0:
        return
    small = {name: n for name, n in counts.items() if _split_counts(n, val_fraction, test_fraction)[0] == 0}
    if not small:
        return
    need = min_images_for_validation(val_fraction, test_fraction)
    listed = ", ".join(f"{name} ({n})" for name, n in list(small.items())[:6]) + (" ..." if len(small) > 6 else "")
    message = (f"too few images to set one aside for validation in class{'es' if len(small) > 1 else ''} "
               f"{listed}: with validation fraction {val_fraction:g} and test fraction {test_fraction:g} a "
               f"class needs at least {need} images. Without validation images the run cannot tell how "
               f"well it does on that class")
    if not allow:
        raise DataError(message + "; add images, or train anyway with --allow-unvalidated-classes")
    warn(message + " (training anyway, as asked)")


def stratified_split(labels: Sequence[int], val_fraction: float, test_fraction: float, seed: int,
                     names: Sequence[str] | None = None,
                     warn: Callable[[str], None] = lambda m: None) -> dict[str, list[int]]:
    """Indices per split: each class shuffled by its own seeded stream, then cut by fractions.

    Per-class streams make a class's split independent of the other classes; str seeds hash
    with SHA-512 in `random`, so the result is the same on every machine and Python run.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(f"validation ({val_fraction}) and test ({test_fraction}) fractions must be in "
                        f"[0, 1) and leave images for training")
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for y in sorted(by_class):
        idx = list(by_class[y])
        random.Random(f"gcam-split:{seed}:{y}").shuffle(idx)
        n = len(idx)
        n_val, n_test = _split_counts(n, val_fraction, test_fraction)
        name = names[y] if names else str(y)
        if val_fraction > 0 and n_val == 0:
            warn(f"class {name} has only {n} image{'s' if n != 1 else ''}: none left for validation")
        out["val"] += idx[:n_val]
        out["test"] += idx[n_val:n_val + n_test]
        out["train"] += idx[n_val + n_test:]
    for s in SPLITS:
        out[s].sort()
    return out


# The stream the shuffled labels are drawn from: its own, apart from the split's
# ("gcam-split:...") and the epochs' order and flips (batches.epoch_seed, "gcam-epoch:..."), so
# a run with --shuffle-labels splits, orders and flips its images as the same run without it.
LABEL_STREAM = "gcam-labels"


def shuffled_labels(labels: Sequence[int], seed: int) -> list[int]:
    """`labels` permuted by the seeded stream LABEL_STREAM (Adebayo et al. 2018's data
    randomisation test): each class keeps its count, the images lose their true class.
    str seeds hash with SHA-512 in `random`: the same on every machine and Python run."""
    out = [int(y) for y in labels]
    random.Random(f"{LABEL_STREAM}:{seed}").shuffle(out)
    return out


def shuffle_train_labels(split: DatasetSplit, seed: int) -> tuple[list[Item], dict]:
    """The training items with shuffled labels, and the record of it (config.json, the
    checkpoints' recipe, report.json). Validation and test keep their true labels."""
    train = split.items("train")
    labels = shuffled_labels([y for _, y in train], seed)
    changed = sum(a != b for (_, a), b in zip(train, labels))
    record = {"seed": int(seed), "stream": f"{LABEL_STREAM}:{seed}", "changed": changed, "train_images": len(train)}
    return [(p, y) for (p, _), y in zip(train, labels)], record


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def build_split(listing: Listing, failures: Iterable[dict], val_fraction: float, test_fraction: float,
                seed: int, warn: Callable[[str], None] = lambda m: None,
                allow_unvalidated: bool = True) -> DatasetSplit:
    """The split of the readable images of `listing` (failures left out and recorded)."""
    failures = list(failures)
    bad = {f["path"] for f in failures}
    root = listing.root
    names = listing.class_names

    def readable(items):
        return [(p, y) for p, y in items if str(p) not in bad]

    if listing.layout == "imagefolder":
        items = readable(listing.parts["all"])
        _check_classes(items, names, root, failures)
        check_validation_possible(_class_counts(items, names), val_fraction, test_fraction, allow_unvalidated, warn)
        idx = stratified_split([y for _, y in items], val_fraction, test_fraction, seed, names, warn)
        parts = {s: [(_rel(items[i][0], root), items[i][1]) for i in idx[s]] for s in SPLITS}
    else:
        parts = {s: [(_rel(p, root), y) for p, y in readable(listing.parts.get(s, []))] for s in SPLITS}
        _check_classes([(p, y) for p, y in parts["train"]], names, root / "train", failures)
        if not parts["val"]:
            raise DataError(f"{root}: the validation folder holds no readable images")
        val_fraction = test_fraction = 0.0
    skipped = [{"path": _rel(Path(f["path"]), root), "reason": f["reason"]} for f in failures]
    return DatasetSplit(str(root), listing.layout, list(names), parts["train"], parts["val"], parts["test"],
                        skipped, seed, val_fraction, test_fraction)


def _class_counts(items, names) -> dict[str, int]:
    counts = [0] * len(names)
    for _, y in items:
        counts[y] += 1
    return dict(zip(names, counts))


def listing_counts(listing: Listing) -> dict[str, int]:
    """Images per class of an ImageFolder listing, before decoding (empty for pre-split data)."""
    return _class_counts(listing.parts["all"], listing.class_names) if listing.layout == "imagefolder" else {}


def _check_classes(items, names, root, failures) -> None:
    counts = [0] * len(names)
    for _, y in items:
        counts[y] += 1
    dead = [names[y] for y, c in enumerate(counts) if c == 0]
    if dead:
        raise DataError(f"{root}: no readable images in class{'es' if len(dead) > 1 else ''} "
                        f"{', '.join(dead)} ({len(failures)} unreadable images skipped in all)")
