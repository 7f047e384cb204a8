"""The deep hash end to end on a fixed model: stable bits, copies close, other pictures far."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gcam_desktop.imaging import load_image
from gcam_desktop.paths import samples_dir
from gcam_desktop.similarity import (DEFAULT_THRESHOLD, FINGERPRINT_VERSION, FingerprintCache, HashModel, deep_features,
                                     deep_hash, fingerprint_files, hamming, pick_hash_model, random_resnet50, to_hex)
from gcam_desktop.similarity.edits import EDITS

KNOWN = "square/square_0001.png"
# FINGERPRINT_VERSION 1 of KNOWN with random_resnet50(seed 0). If this changes, fingerprints
# stored by earlier versions no longer compare: raise FINGERPRINT_VERSION with it.
KNOWN_FINGERPRINT = "dd5ca9b95642a925"


@pytest.fixture(scope="module")
def hm() -> HashModel:
    return random_resnet50()


def _sample(rel: str) -> Image.Image:
    return load_image(samples_dir() / "images" / rel)


def test_fingerprint_of_a_fixed_image_and_model_is_stable(hm):
    assert FINGERPRINT_VERSION == 1
    assert to_hex(hm.hash([_sample(KNOWN)])[0]) == KNOWN_FINGERPRINT
    assert hm.key.startswith("v1-") and hm.key == random_resnet50().key  # seeded: the same weights again


@pytest.mark.slow
def test_edited_copies_land_within_the_threshold_and_other_pictures_outside(hm):
    from training.synth import SynthSpec, render

    known = _sample(KNOWN)
    copies = [edit(known) for edit in EDITS.values()]
    others = [load_image(p) for p in sorted((samples_dir() / "images").rglob("*.png")) if not p.match(KNOWN)]
    spec = SynthSpec(classes=10, per_class=2, size=160, seed=77)
    others += [render(c, i, spec)[0] for c in range(10) for i in range(2)]
    h = hm.hash([known, *copies, *others])
    to_copies = hamming(np.repeat(h[0], len(copies)), h[1:1 + len(copies)])
    to_others = hamming(np.repeat(h[0], len(others)), h[1 + len(copies):])
    assert to_copies.max() <= DEFAULT_THRESHOLD, dict(zip(EDITS, to_copies))
    assert to_others.min() > DEFAULT_THRESHOLD


def test_function_api_takes_paths_or_pictures(hm):
    path = samples_dir() / "images" / KNOWN
    by_path = deep_hash(hm.model, [path, path], hm.meta)
    assert by_path.dtype == np.uint64 and by_path.shape == (2,)
    assert to_hex(by_path[0]) == KNOWN_FINGERPRINT
    f = deep_features(hm.model, [_sample(KNOWN)], hm.meta)
    assert f.shape == (1, 4096) and f.dtype == np.float32
    sym = f[0].reshape(64, 64)
    assert np.allclose(sym, sym[:, ::-1])  # the map is left-right symmetric: flips hash alike


def test_a_model_without_resnet_stages_is_refused():
    from torch import nn

    with pytest.raises(ValueError, match="needs a ResNet50 variant"):
        deep_hash(nn.Sequential(nn.Conv2d(3, 4, 3)), [_sample(KNOWN)])


@pytest.mark.slow
def test_pick_named_random_demo_and_refusals(tmp_path):
    from gcam_desktop.models import CheckpointError, build_model, make_meta, save_checkpoint
    from gcam_desktop.paths import demo_checkpoint

    assert pick_hash_model("random:resnet50").source == "random-weight resnet50 (seed 0)"
    assert pick_hash_model().source.startswith("random-weight")  # no ImageNet weights cached, no demo
    with pytest.raises(CheckpointError, match="no such file"):
        pick_hash_model(str(tmp_path / "missing.pt"))
    small = save_checkpoint(tmp_path / "small.pt", build_model("small_cnn", 2), make_meta("small_cnn", ["a", "b"]))
    with pytest.raises(CheckpointError, match="deep hash needs one of"):
        pick_hash_model(str(small))
    save_checkpoint(demo_checkpoint("resnet50"), build_model("resnet50", 3), make_meta("resnet50", "abc"))
    demo = pick_hash_model()
    assert demo.source.startswith("demo checkpoint") and demo.key != random_resnet50().key


class CountingHashModel(HashModel):
    """The real hash model, counting how many pictures it fingerprints."""

    hashed = 0

    def hash(self, images, batch_size: int = 16):
        images = list(images)
        type(self).hashed += len(images)
        return super().hash(images, batch_size)


def test_files_are_fingerprinted_once_and_bad_files_named(hm, tmp_path):
    files = []
    for i, rel in enumerate((KNOWN, "disc/disc_0000.png", "ring/ring_0001.png")):
        files.append(tmp_path / f"{i}.png")
        _sample(rel).save(files[-1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    counting = CountingHashModel(hm.model, hm.meta, hm.source, hm.digest)
    cache = FingerprintCache(counting.key, tmp_path / "cache")
    h, ok, failures = fingerprint_files(counting, [*files, bad], cache)
    assert ok.tolist() == [True, True, True, False] and to_hex(h[0]) == KNOWN_FINGERPRINT
    assert [f["path"] for f in failures] == [str(bad)] and failures[0]["reason"]
    assert CountingHashModel.hashed == 3
    again, ok2, _ = fingerprint_files(counting, files, FingerprintCache(counting.key, tmp_path / "cache"))
    assert (again == h[:3]).all() and ok2.all()
    assert CountingHashModel.hashed == 3  # the second pass ran no model
