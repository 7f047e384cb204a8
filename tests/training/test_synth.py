"""The synthetic set: layout, masks, determinism, and the `synth` command."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from training.synth import MANIFEST, class_names, images_root, make_synthetic, mask_path_for, render, SynthSpec

from trainer_helpers import parse_events, run_trainer


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.png")):
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_masks_and_manifest(tmp_path):
    manifest = make_synthetic(tmp_path / "s", classes=4, per_class=3, size=48, seed=1)
    root = tmp_path / "s"
    assert manifest["class_names"] == class_names(4) == ["disc", "square", "triangle", "star"]
    assert sorted(p.name for p in (root / "images").iterdir()) == sorted(manifest["class_names"])
    assert len(manifest["images"]) == 12
    for rec in manifest["images"]:
        img, mask = Image.open(root / rec["image"]), Image.open(root / rec["mask"])
        assert img.mode == "RGB" and img.size == (48, 48)
        assert mask.mode == "L" and mask.size == (48, 48)
        m = np.asarray(mask)
        assert set(np.unique(m)) <= {0, 255}
        # The object is a real part of the picture, not a speck and not the whole frame.
        assert 0.02 < (m > 0).mean() < 0.5
        x0, y0, x1, y1 = rec["box"]
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
        assert mask_path_for(root / rec["image"]) == root / rec["mask"]
    assert json.loads((root / MANIFEST).read_text())["spec"] == {"classes": 4, "per_class": 3, "size": 48, "seed": 1}
    assert images_root(root) == root / "images"


def test_object_differs_from_background_inside_the_mask():
    img, mask, _ = render(2, 0, SynthSpec(classes=6, per_class=1, size=64, seed=5))
    a, m = np.asarray(img).astype(float), np.asarray(mask) > 0
    # The class colour is saturated; the background's muted: mean saturation differs clearly.
    sat = a.max(2) - a.min(2)
    assert sat[m].mean() > sat[~m].mean() + 40


def test_deterministic_by_seed(tmp_path):
    make_synthetic(tmp_path / "a", classes=3, per_class=2, size=32, seed=7)
    make_synthetic(tmp_path / "b", classes=3, per_class=2, size=32, seed=7)
    make_synthetic(tmp_path / "c", classes=3, per_class=2, size=32, seed=8)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # Image i of a class does not depend on how many images are asked for.
    make_synthetic(tmp_path / "d", classes=3, per_class=4, size=32, seed=7)
    p = "images/disc/disc_0001.png"
    assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "d" / p).read_bytes()


def test_same_parameters_are_kept_other_content_refused(tmp_path):
    out = tmp_path / "s"
    make_synthetic(out, classes=2, per_class=1, size=32, seed=0)
    stamp = (out / MANIFEST).stat().st_mtime_ns
    make_synthetic(out, classes=2, per_class=1, size=32, seed=0)
    assert (out / MANIFEST).stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="not empty"):
        make_synthetic(out, classes=2, per_class=1, size=32, seed=1)
    make_synthetic(out, classes=2, per_class=1, size=32, seed=1, force=True)
    assert json.loads((out / MANIFEST).read_text())["spec"]["seed"] == 1


@pytest.mark.parametrize("kwargs, message", [({"classes": 1}, "--classes"), ({"classes": 11}, "--classes"),
                                             ({"per_class": 0}, "--per-class"), ({"size": 8}, "--size")])
def test_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic(tmp_path / "x", **kwargs)


@pytest.mark.slow
def test_synth_command(tmp_path):
    result = run_trainer("synth", "--out", str(tmp_path / "s"), "--classes", "2", "--per-class", "2",
                         "--size", "32", "--seed", "4", data_dir=tmp_path / "ud", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(list((tmp_path / "s" / "masks").rglob("*.png"))) == 4
    bad = run_trainer("synth", "--out", str(tmp_path / "t"), "--classes", "1", data_dir=tmp_path / "ud", timeout=120)
    assert bad.returncode == 2
    (event,) = parse_events(bad.stdout)
    assert event["event"] == "error" and "--classes" in event["message"]


def test_committed_samples_match_the_demo_classes():
    from gcam_desktop.paths import samples_dir
    from training.config import DEMO_SYNTH
    from training.synth import read_manifest

    root = samples_dir()
    manifest = read_manifest(root)
    assert manifest is not None, f"{root} holds no synth.json"
    assert manifest["class_names"] == class_names(DEMO_SYNTH["classes"])
    assert manifest["spec"]["size"] == 128 and manifest["spec"]["seed"] != DEMO_SYNTH["seed"]  # unseen
    images = sorted((root / "images").rglob("*.png"))
    assert len(images) == 2 * DEMO_SYNTH["classes"]
    for p in images:
        assert mask_path_for(p).is_file()
        assert Image.open(p).size == (128, 128)
    synthetic = [p for p in root.rglob("*") if p.is_file() and "photos" not in p.relative_to(root).parts]
    assert sum(p.stat().st_size for p in synthetic) < 1_000_000
    photos = [p for p in (root / "photos").rglob("*") if p.is_file()]  # the real photos (issue 10), apart
    assert sum(p.stat().st_size for p in photos) < 1_000_000


def test_cli_and_synth_load_without_torch(tmp_path):
    """`gcam-train synth` and --help start fast, and the CLI can tune OpenMP before torch loads."""
    import subprocess
    import sys

    from trainer_helpers import ROOT, child_env

    code = ("import sys, training, training.cli, training.synth, training.data, training.events\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], env=child_env(tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
