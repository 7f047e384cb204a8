"""run_strategies over a real folder with a real (untrained) model: near-duplicates collapsed
before clustering and counted, labels from the class folders, the per-cluster summaries, the
comparison of two clusterings and the cache key."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def folder_with_copies(tmp_path_factory):
    from training.synth import make_synthetic

    root = tmp_path_factory.mktemp("copies")
    make_synthetic(root, classes=2, per_class=8, size=64, seed=5)
    images = root / "images"
    shutil.copyfile(images / "disc" / "disc_0001.png", images / "disc" / "zz_copy.png")
    Image.open(images / "square" / "square_0002.png").convert("RGB").save(images / "square" / "zz_copy.jpg",
                                                                        quality=70)
    return images


@pytest.fixture(scope="module")
def model():
    import torch

    from gcam_desktop.models import build_model, make_meta

    torch.manual_seed(0)
    return "cnn", build_model("small_cnn", 2).eval(), make_meta("small_cnn", ["disc", "square"], 64)


@pytest.mark.slow  # ~10 s: the hash model and two passes over 18 images; test_spectral is the fast representative
def test_near_duplicates_are_collapsed_and_counted(folder_with_copies, model, tmp_path):
    from gcam_desktop.strategies import run_strategies

    seen = []
    r = run_strategies([folder_with_copies], model, "gradcam", hash_model="random:resnet50", layout=False,
                       thumbnail_dir=tmp_path / "thumbs", progress=lambda d, t, s: seen.append(s))
    assert r.labelled and not r.failures
    assert {"duplicates", "explaining", "clustering"} <= set(seen)
    by_path = {e.path: e for c in r.classes for e in c.images}
    copies = [p for e in by_path.values() for p in e.duplicates]
    # Each planted copy folded into its original, never clustered on its own.
    assert str(folder_with_copies / "disc" / "zz_copy.png") in by_path[str(folder_with_copies / "disc" / "disc_0001.png")].duplicates
    assert str(folder_with_copies / "square" / "zz_copy.jpg") in by_path[str(folder_with_copies / "square" / "square_0002.png")].duplicates
    assert not any("zz_copy" in p for p in by_path)
    assert r.collapsed == len(copies) == sum(c.collapsed for c in r.classes) >= 2
    assert len(by_path) + r.collapsed == 18
    # Labels from the class folders; correctness from them; every image has its thumbnail.
    for c in r.classes:
        assert all(e.label == c.class_index for e in c.images)
        assert c.grids.shape == (len(c.images), 16, 16) and 0 <= c.grids.min() and c.grids.max() <= 1
        assert sum(cl.size for cl in c.clusters) == len(c.images)
        for cl in c.clusters:
            assert cl.accuracy == pytest.approx(np.mean([c.images[m].correct for m in cl.members]))
            assert set(cl.nearest) <= set(cl.members) and cl.mean_image.shape == (32, 32, 3)
            assert np.allclose(cl.mean_map, c.grids[cl.members].mean(axis=0))
    assert all(e.thumbnail and (tmp_path / "thumbs").joinpath(e.thumbnail.split("/")[-1]).is_file()
               for e in by_path.values())
    js = r.to_json()
    assert js["collapsed_duplicates"] == r.collapsed and len(js["classes"]) == 2

    # Without the collapse every file is clustered.
    plain = run_strategies([folder_with_copies], model, "gradcam", duplicates=False, layout=False, class_index=0)
    assert plain.collapsed == 0 and [c.class_index for c in plain.classes] == [0]
    assert len(plain.classes[0].images) == 9


def test_cancel_stops_the_run(folder_with_copies, model):
    from gcam_desktop.strategies import Cancelled, run_strategies

    with pytest.raises(Cancelled):
        run_strategies([folder_with_copies], model, "gradcam", duplicates=False, cancelled=lambda: True)


def test_compare_and_cache_key():
    from gcam_desktop.strategies import ClassStrategies, Clustering, ImageEntry, cache_key, compare

    def cls(labels):
        n = len(labels)
        c = Clustering(np.array(labels), np.zeros(3), 2, 2, np.zeros((n, 2)), np.zeros((n, 2)), 3)
        return ClassStrategies(0, "disc", [ImageEntry(f"/x/{i}.png", 0, 0, 1.0) for i in range(n)],
                               np.zeros((n, 2, 2)), c, [])

    a = cls([0, 0, 0, 1, 1, 1])
    same = compare(a, cls([1, 1, 1, 0, 0, 0]))  # the same grouping under other numbers
    assert same.ari == pytest.approx(1.0) and same.moved == [] and same.matched == {0: 1, 1: 0}
    moved = compare(a, cls([0, 0, 1, 1, 1, 1]))
    assert moved.ari < 1 and moved.moved == ["/x/2.png"]
    assert cache_key("/d", "m", "gradcam", None, 0) == cache_key("/d/", "m", "gradcam", None, 0)
    assert cache_key("/d", "m", "gradcam", None, 0) != cache_key("/d", "m", "gradcam", None, 1)
    assert cache_key("/d", "m", "gradcam", None, 0) != cache_key("/d", "m", "gradcam", "conv1", 0)
