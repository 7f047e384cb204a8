"""Object masks in the common encodings read as the object they mark; an empty mask is said per
file and not counted as a mask (issue 24: such masks used to read as empty, "12 with object
masks" and a dash for every mask metric)."""

import json

import numpy as np
import pytest
from PIL import Image

from gcam_desktop import evaluation as E
from gcam_desktop.cli.evaluate import main as evaluate_main
from tests.corpus.masks import EMPTY, ENCODINGS, box_pixels, write_mask
from tests.evaluation.test_evaluate import FAST, set_checkpoints, write_masked_set


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_each_encoding_marks_the_object(tmp_path, kind):
    mask, note = E.read_mask(write_mask(tmp_path / f"{kind}.png", kind), (40, 40))
    assert note is None
    assert np.array_equal(mask.numpy(), box_pixels())


def test_a_jpeg_mask_is_read_at_half_brightness_not_at_any_compression_noise(tmp_path):
    Image.fromarray(box_pixels().astype(np.uint8) * 255).save(tmp_path / "m.jpg", quality=60)
    noisy = np.asarray(Image.open(tmp_path / "m.jpg").convert("L"))
    assert (noisy[~box_pixels()] > 0).any()  # the premise: JPEG leaves the black not quite 0
    mask = E.read_mask(tmp_path / "m.jpg", (40, 40))[0].numpy()
    assert (mask != box_pixels()).sum() <= 4


@pytest.mark.parametrize("kind", sorted(EMPTY))
def test_an_empty_mask_is_refused_naming_the_file(tmp_path, kind):
    path = write_mask(tmp_path / f"{kind}.png", kind)
    with pytest.raises(E.MaskError) as info:
        E.read_mask(path, (40, 40))
    assert str(info.value).startswith(str(path)) and "mask is empty" in str(info.value)


def test_an_object_too_small_to_survive_the_scaling_is_refused(tmp_path):
    arr = np.zeros((2048, 2048), np.uint8)
    arr[100, 100] = 255  # one pixel, at 4x the scored size
    Image.fromarray(arr).save(tmp_path / "dot.png")
    with pytest.raises(E.MaskError, match="too small"):
        E.read_mask(tmp_path / "dot.png", (2048, 2048))


def test_cli_scores_every_encoding_and_says_which_mask_is_empty(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=3)
    masks = sorted((data / "masks").rglob("*.png"))
    kinds = ["class_index_0_1", "red_on_black", "palette_index_1", "sixteen_bit_0_1", "alpha_only"]
    for path, kind in zip(masks, kinds):  # each rewritten in another encoding, the same box
        ys, xs = np.nonzero(np.asarray(Image.open(path)))
        write_mask(path, kind, box=(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    write_mask(masks[5], "all_black")
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "report"
    rc = evaluate_main([str(data), "-c", ck, "--steps", "2", *FAST, "--resamples", "20", "--device", "cpu",
                        "--no-dup-check", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    rel = masks[5].relative_to(data / "masks")
    empty = [ln for ln in err.splitlines() if "mask is empty" in ln]
    assert len(empty) == 1 and str(masks[5]) in empty[0], err
    report = json.loads((out / "report.json").read_text())
    assert report["images_with_masks"] == 5
    pointing = report["models"][0]["methods"]["gradcam"]["pointing_game"]
    assert pointing["n"] == 5 and pointing["mean"] is not None
    md = (out / "report.md").read_text()
    assert "6 images scored, 5 with object masks" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| small_cnn |"))
    assert "–" not in row.replace("– (ROAD not run)", "")  # every metric run has a value
    assert any(str(rel) in x["path"] or str(rel) in x["note"] for x in report["mask_notes"])
    assert "mask is empty" in md  # the report lists it with the masks not used


def test_the_rule_is_stated_in_the_help():
    from gcam_desktop.cli.evaluate import _parser

    text = " ".join(_parser().format_help().split())
    assert "not 0 in some colour channel" in text and "alpha > 0" in text and "an empty mask is not used" in text
