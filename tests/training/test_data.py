"""Finding the dataset, checking every image, and the split: stratified, seeded, saved."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from training.data import DataError, DatasetSplit, build_split, decode_all, decode_resized, find_dataset, stratified_split


def _img(path, mode="RGB", size=(40, 30), colour=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


def _folder(root, counts):
    for name, n in counts.items():
        for i in range(n):
            _img(root / name / f"{name}{i}.png")
    return root


# ----------------------------------------------------------------------------- split

def test_split_is_stratified_deterministic_and_seeded():
    labels = [0] * 50 + [1] * 20 + [2] * 10
    a = stratified_split(labels, 0.2, 0.1, seed=1)
    assert a == stratified_split(labels, 0.2, 0.1, seed=1)
    assert a != stratified_split(labels, 0.2, 0.1, seed=2)
    assert sorted(a["train"] + a["val"] + a["test"]) == list(range(80))  # a partition
    for split, frac in (("val", 0.2), ("test", 0.1)):
        per_class = Counter(labels[i] for i in a[split])
        assert per_class == {0: round(50 * frac), 1: round(20 * frac), 2: round(10 * frac)}


def test_split_keeps_training_images_for_tiny_classes():
    labels = [0] * 2 + [1] * 3 + [2] * 1
    s = stratified_split(labels, 0.4, 0.4, seed=0)
    train = Counter(labels[i] for i in s["train"])
    assert all(train[c] >= 1 for c in (0, 1, 2))


def test_split_saved_and_reloaded(tmp_path):
    root = _folder(tmp_path / "d", {"cat": 6, "dog": 9})
    listing = find_dataset(root)
    split = build_split(listing, [], 0.2, 0.2, seed=4)
    split.save(tmp_path / "split.json")
    again = DatasetSplit.load(tmp_path / "split.json")
    assert again == split
    data = json.loads((tmp_path / "split.json").read_text())
    assert data["class_names"] == ["cat", "dog"]
    assert data["sizes"] == {"train": 9, "val": 3, "test": 3}
    # Paths are relative to the data root, in POSIX form.
    assert all(not p.startswith("/") and "\\" not in p for p, _ in data["train"])
    assert (root / data["val"][0][0]).is_file()


def test_presplit_layout_is_used_as_is(tmp_path):
    root = tmp_path / "d"
    _folder(root / "train", {"a": 3, "b": 3})
    _folder(root / "val", {"a": 1, "b": 2})
    _folder(root / "test", {"a": 1})
    listing = find_dataset(root)
    assert listing.layout == "presplit" and listing.class_names == ["a", "b"]
    split = build_split(listing, [], 0.5, 0.5, seed=0)
    assert split.sizes() == {"train": 6, "val": 3, "test": 1}
    assert all(p.startswith("val/") for p, _ in split.val)


def test_presplit_unknown_class_in_val_is_refused(tmp_path):
    root = tmp_path / "d"
    _folder(root / "train", {"a": 2, "b": 2})
    _folder(root / "val", {"a": 1, "c": 1})
    with pytest.raises(DataError, match="c not in"):
        find_dataset(root)


# ----------------------------------------------------------------------------- bad data

def test_empty_folder(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="is empty"):
        find_dataset(tmp_path / "d")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        find_dataset(tmp_path / "nope")


def test_images_without_class_folders(tmp_path):
    _img(tmp_path / "d" / "x.png")
    with pytest.raises(DataError, match="no class subfolders"):
        find_dataset(tmp_path / "d")


def test_class_folder_without_images_is_named(tmp_path):
    root = _folder(tmp_path / "d", {"a": 2, "b": 2})
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"no images: .*empty"):
        find_dataset(root)


def test_fewer_than_two_classes(tmp_path):
    root = _folder(tmp_path / "d", {"only": 4})
    with pytest.raises(DataError, match="at least two"):
        find_dataset(root)


def test_corrupt_images_are_skipped_and_named(tmp_path):
    root = _folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (root / "b" / "empty.jpg").write_bytes(b"")
    good = _img(root / "b" / "cut.png", size=(64, 64))
    (root / "b" / "cut.png").write_bytes(good.read_bytes()[:120])  # truncated
    listing = find_dataset(root)
    paths = [p for p, _ in listing.parts["all"]]
    _, failures = decode_all(paths, 16, keep=False)
    assert sorted(f["path"].rsplit("/", 1)[-1] for f in failures) == ["broken.png", "cut.png", "empty.jpg"]
    assert all(f["reason"] for f in failures)
    split = build_split(listing, failures, 0.25, 0.0, seed=0)
    assert sum(split.sizes().values()) == 8
    assert sorted(s["path"] for s in split.skipped) == ["a/broken.png", "b/cut.png", "b/empty.jpg"]


def test_a_class_of_only_corrupt_images_stops(tmp_path):
    root = _folder(tmp_path / "d", {"a": 3})
    (root / "b").mkdir()
    (root / "b" / "x.png").write_bytes(b"garbage")
    listing = find_dataset(root)
    _, failures = decode_all([p for p, _ in listing.parts["all"]], 16, keep=False)
    with pytest.raises(DataError, match="no readable images in class b"):
        build_split(listing, failures, 0.2, 0.0, seed=0)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "1"])
def test_any_image_mode_and_size_decodes_to_rgb(tmp_path, mode):
    ext = "tif" if mode in ("CMYK", "I;16") else "png"
    p = _img(tmp_path / f"x.{ext}", mode="RGB", size=(37, 11))
    Image.open(p).convert(mode).save(p)
    arr = decode_resized(p, 24)
    assert arr.shape == (24, 24, 3) and arr.dtype == np.uint8


def test_training_resize_is_the_viewers_preprocessing(tmp_path):
    """Train / test skew guard: the trainer's tensor equals imaging.preprocess's, exactly."""
    import torch

    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess
    from training.batches import Normalizer

    p = _img(tmp_path / "y.png", size=(53, 29))
    u8 = torch.from_numpy(decode_resized(p, 32)).permute(2, 0, 1)[None]
    ours = Normalizer(IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))(u8)[0]
    theirs = preprocess(load_image(p), 32, IMAGENET_MEAN, IMAGENET_STD)
    assert torch.equal(ours, theirs)


@pytest.mark.slow
def test_warnings_name_each_skipped_file_in_a_run(tmp_path, caplog):
    from training import TrainConfig, train

    root = _folder(tmp_path / "d", {"a": 5, "b": 5})
    (root / "a" / "bad1.png").write_bytes(b"nope")
    (root / "b" / "bad2.jpg").write_bytes(b"\xff\xd8\xff broken")
    events = []
    cfg = TrainConfig(data=str(root), archs=["small_cnn"], epochs=1, batch_size=4, input_size=32,
                      val_fraction=0.2, test_fraction=0.0, out=str(tmp_path / "run"))
    with caplog.at_level(logging.WARNING, logger="training"):
        result = train(cfg, on_event=events.append)
    assert result["status"] == "finished"
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "bad1.png" in warned and "bad2.jpg" in warned
    started = next(e for e in events if e["event"] == "run_started")
    assert started["skipped"] == 2
    assert sorted(f["path"] for f in started["skipped_files"]) == ["a/bad1.png", "b/bad2.jpg"]
    assert started["sizes"]["train"] + started["sizes"]["val"] == 10


@pytest.mark.slow
def test_odd_modes_train_like_any_other(tmp_path):
    """Grayscale, RGBA, CMYK, palette and odd sizes go through the shared loader into a run."""
    from training import TrainConfig, train

    root = tmp_path / "d"
    modes = ["L", "RGBA", "CMYK", "P", "RGB", "LA"]
    for c in ("a", "b"):
        for i, mode in enumerate(modes):
            ext = "jpg" if mode == "CMYK" else "png"
            p = _img(root / c / f"{i}.{ext}", size=(17 + 13 * i, 41 - 3 * i))
            Image.open(p).convert(mode).save(p)
    cfg = TrainConfig(data=str(root), archs=["small_cnn"], epochs=1, batch_size=4, input_size=32,
                      val_fraction=0.25, test_fraction=0.0, out=str(tmp_path / "run"))
    events = []
    result = train(cfg, on_event=events.append)
    assert result["status"] == "finished"
    started = next(e for e in events if e["event"] == "run_started")
    assert started["skipped"] == 0 and sum(started["sizes"].values()) == 12
