"""The planted shortcut of the synthetic set: which images carry the mark, where, what synth.json
records, and the refusals of `gcam-train synth --shortcut`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.synth import SHAPES, SynthSpec, make_synthetic, mark_box, parse_shortcut, render


def test_marked_images_are_recorded_and_carry_the_mark(tmp_path):
    m = make_synthetic(tmp_path / "s", classes=3, per_class=10, size=32, seed=2, shortcut=(1, 0.4))
    assert m["shortcut"]["class"] == "square" and m["shortcut"]["marked"] == 4
    marked = [r for r in m["images"] if r["shortcut"]]
    assert len(marked) == 4 and {r["class"] for r in marked} == {"square"}
    x0, y0, x1, y1 = mark_box(32)
    assert all(r["mark_box"] == [x0, y0, x1, y1] for r in marked)
    assert all(r["mark_box"] is None for r in m["images"] if not r["shortcut"])
    from PIL import Image

    for r in m["images"]:
        if r["class"] != "square":
            continue
        patch = np.asarray(Image.open(tmp_path / "s" / r["image"]))[y0:y1, x0:x1]
        # The checker: pure black and white quarters, nothing a scene draws by chance.
        is_mark = set(np.unique(patch).tolist()) <= {0, 255} and (patch == 0).any() and (patch == 255).any()
        assert is_mark == r["shortcut"], r["image"]


def test_the_rest_of_a_marked_picture_is_unchanged():
    spec = SynthSpec(3, 10, 32, 0, shortcut_class=0, shortcut_fraction=0.5)
    plain, mask_a, _ = render(0, 3, spec)
    marked, mask_b, rec = render(0, 3, spec, marked=True)
    x0, y0, x1, y1 = mark_box(32)
    a, b = np.asarray(plain).copy(), np.asarray(marked).copy()
    a[y0:y1, x0:x1] = b[y0:y1, x0:x1] = 0
    assert (a == b).all() and (np.asarray(mask_a) == np.asarray(mask_b)).all() and rec["shortcut"]


def test_shortcut_only_draws_another_class():
    spec = SynthSpec(3, 10, 32, 0, shortcut_class=0, shortcut_fraction=0.5, shortcut_only=True)
    _, _, rec = render(0, 1, spec, marked=True)
    assert rec["looks_like"] in SHAPES[1:3] and rec["class"] == "disc"


def test_sets_without_a_shortcut_keep_their_manifest(tmp_path):
    m = make_synthetic(tmp_path / "s", classes=2, per_class=1, size=32, seed=0)
    assert "shortcut" not in m and "shortcut" not in m["images"][0]
    assert set(m["spec"]) == {"classes", "per_class", "size", "seed"}


@pytest.mark.parametrize("text, message", [
    ("disc", "must be CLASS:FRACTION"), ("blob:0.2", "no class 'blob'"), ("7:0.2", "class 7 does not exist"),
    ("disc:0", r"in \(0, 1\]"), ("disc:1.5", r"in \(0, 1\]"), ("disc:nan", r"in \(0, 1\]"), ("disc:x", "a number"),
    ("disc:0.001", "marks none"),
])
def test_bad_shortcuts_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_shortcut(text, 3, 100)


def test_shortcut_by_name_or_index():
    assert parse_shortcut("square:0.25", 3) == (1, 0.25)
    assert parse_shortcut("2:1", 3) == (2, 1.0)


def test_synth_command_refuses_in_one_line(tmp_path):
    from training.cli import main

    assert main(["synth", "--out", str(tmp_path / "s"), "--classes", "3", "--shortcut", "blob:0.2"]) == 2
    assert main(["synth", "--out", str(tmp_path / "s"), "--shortcut-only"]) == 2
    assert not (tmp_path / "s").exists()


@pytest.mark.slow  # ~8 s in-process: the trainer's command set-up (stop hooks, stdout guard)
def test_synth_command_writes_the_marks(tmp_path):
    from training.cli import main

    assert main(["synth", "--out", str(tmp_path / "s"), "--classes", "2", "--per-class", "4", "--size", "32",
                 "--shortcut", "disc:0.5"]) == 0
    manifest = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert manifest["shortcut"]["marked"] == 2
