"""Near-duplicates across splits: planted copies are found, --dedup removes them, strata hold."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from gcam_desktop.similarity.edits import EDITS
from training.config import TrainConfig
from training.data import DatasetSplit, build_split, find_dataset
from training.duplicates import check_duplicates

PLANT_EDITS = ("flip", "jpeg q30", "resize 50%", "brightness +20%")


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, set[frozenset[str]]]:
    """3 classes x 12 synthetic pictures, plus 4 edited copies per class (another file name)."""
    from training.synth import SynthSpec, render

    root = tmp_path_factory.mktemp("planted")
    spec = SynthSpec(classes=3, per_class=12, size=96, seed=11)
    pairs = set()
    for c, name in enumerate(("disc", "square", "triangle")):
        (root / name).mkdir()
        for i in range(12):
            render(c, i, spec)[0].save(root / name / f"{name}_{i:02d}.png")
        for k, edit in enumerate(PLANT_EDITS):
            src = root / name / f"{name}_{k:02d}.png"
            EDITS[edit](Image.open(src).convert("RGB")).save(root / name / f"copy_{k}.png")
            pairs.add(frozenset((f"{name}/{name}_{k:02d}.png", f"{name}/copy_{k}.png")))
    return root, pairs


def _cfg(root: Path, **kw) -> TrainConfig:
    return TrainConfig(data=str(root), hash_model="random:resnet50", dup_threshold=12, device="cpu",
                       val_fraction=0.25, test_fraction=0.25, seed=3, **kw)


def _check(root: Path, **kw) -> DatasetSplit:
    cfg = _cfg(root, **kw)
    listing = find_dataset(root)
    split = build_split(listing, [], cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return check_duplicates(cfg, listing, [], split)


@pytest.mark.slow
def test_planted_copies_across_splits_are_reported(planted, tmp_path):
    root, pairs = planted
    split = _check(root)
    where = {p: s for s in ("train", "val", "test") for p, _ in split.items(s)}
    across = {pair for pair in pairs if len({where[p] for p in pair}) == 2}
    assert across, "the seed should put some planted pairs into different splits"
    report = split.duplicates
    found = {frozenset((p["a"], p["b"])) for p in report["cross_split_pairs"]}
    assert found == across  # every planted pair across splits, and nothing else
    assert report["cross_split_pair_count"] == len(across)
    assert all(p["a_split"] != p["b_split"] and 0 <= p["distance"] <= 12 for p in report["cross_split_pairs"])
    assert report["groups"] == len(pairs) and report["fingerprint_version"] == 1 and report["hash_key"].startswith("v1-")
    split.save(tmp_path / "split.json")  # the pairs go into split.json and come back
    saved = json.loads((tmp_path / "split.json").read_text())["duplicates"]
    assert saved["cross_split_pair_count"] == len(across)
    assert DatasetSplit.load(tmp_path / "split.json").duplicates == report


@pytest.mark.slow
def test_dedup_keeps_one_of_each_group_and_the_split_stays_stratified(planted):
    root, pairs = planted
    split = _check(root, dedup=True)
    kept = {p for s in ("train", "val", "test") for p, _ in split.items(s)}
    assert all(len(pair & kept) == 1 for pair in pairs)  # one of each group is left
    assert len(kept) == 3 * 16 - len(pairs) and not split.skipped
    removed = split.duplicates["removed"]
    assert {r["path"] for r in removed} == {p for pair in pairs for p in pair} - kept
    assert all(frozenset((r["path"], r["kept"])) in pairs for r in removed)
    for s, frac in (("val", 0.25), ("test", 0.25)):  # 12 pictures per class remain: 3 each
        assert Counter(y for _, y in split.items(s)) == {0: 3, 1: 3, 2: 3}, s
    # Seeded: the same choice and split again.
    again = _check(root, dedup=True)
    assert again.train == split.train and again.duplicates["removed"] == removed


@pytest.mark.slow
def test_presplit_dedup_keeps_the_evaluation_copy(tmp_path):
    from training.synth import SynthSpec, render

    spec = SynthSpec(classes=2, per_class=6, size=96, seed=5)
    for part in ("train", "val", "test"):
        for c, name in enumerate(("a", "b")):
            (tmp_path / part / name).mkdir(parents=True)
    for c, name in enumerate(("a", "b")):
        for i in range(4):
            render(c, i, spec)[0].save(tmp_path / "train" / name / f"{i}.png")
        render(c, 4, spec)[0].save(tmp_path / "val" / name / "4.png")
        im = render(c, 5, spec)[0]
        im.save(tmp_path / "test" / name / "5.png")
        EDITS["flip"](im).save(tmp_path / "train" / name / "leak.png")  # a test picture in training
    split = _check(tmp_path, dedup=True)
    assert {p["b"] if p["a_split"] == "train" else p["a"] for p in split.duplicates["cross_split_pairs"]} \
        == {"test/a/5.png", "test/b/5.png"}
    assert sorted(p for p, _ in split.test) == ["test/a/5.png", "test/b/5.png"]  # evaluation keeps its pictures
    assert not any(p.endswith("leak.png") for p, _ in split.train)


def test_no_dup_check_leaves_the_split_alone(planted):
    root, _ = planted
    assert _check(root, dup_check=False).duplicates is None
