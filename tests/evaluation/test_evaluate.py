"""The evaluation report: statistics, mask lookup, the attention-vs-baseline answer, files written."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gcam_desktop import evaluation as E
from gcam_desktop.cli.evaluate import main as evaluate_main


def entry(name, arch):
    return E.ModelEntry(name, nn.Identity(), {"arch": arch, "class_names": ["a", "b"], "input_size": 32})


def method_score(hit, energy=0.5, dele=0.2, ins=0.7, drop=10.0, inc=0.0, steps=4):
    return E.MethodScore(target=0, pointing_game=hit, energy_in_mask=energy, deletion_auc=dele,
                         insertion_auc=ins, average_drop=drop, increase_in_confidence=inc,
                         deletion_curve=[1.0 - k / steps for k in range(steps + 1)],
                         insertion_curve=[k / steps for k in range(steps + 1)])


def image(i, hits, preds=None, true=0, mask=True):
    preds = preds or {n: 0 for n in hits}
    return E.ImageScore(
        path=f"/d/a/{i}.png", mask=f"/m/a/{i}.png" if mask else None,
        models={n: E.ModelScore(preds[n], 0.9, true, {"gradcam": method_score(h if mask else math.nan,
                                                                              energy=h * 0.8 if mask else math.nan)})
                for n, h in hits.items()},
        top_iou={"resnet50|se_resnet50": {"gradcam": 0.5}})


ENTRIES = [entry("resnet50", "resnet50"), entry("se_resnet50", "se_resnet50")]
# CLI runs that test something else leave out the costly extras (ROAD's imputation, the baseline maps).
FAST = ("--no-baselines",)  # ROAD is opt-in (--road)


# ------------------------------------------------------------------------------------- statistics

def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    small = E.bootstrap_ci(rng.normal(0.3, 1, 30).tolist())
    big = E.bootstrap_ci(rng.normal(0.3, 1, 3000).tolist())
    for c in (small, big):
        assert c["lo"] < c["mean"] < c["hi"]
    assert (big["hi"] - big["lo"]) < (small["hi"] - small["lo"]) / 5
    assert big["lo"] < 0.3 < big["hi"]
    assert small["method"] == big["method"] == "BCa"
    assert E.bootstrap_ci([0.5, 0.5, 0.5]) == {"mean": 0.5, "lo": 0.5, "hi": 0.5, "n": 3, "method": "no spread"}
    assert E.bootstrap_ci([math.nan, None]) == {"mean": None, "lo": None, "hi": None, "n": 0, "method": None}
    assert E.bootstrap_ci([1.0, math.nan, 0.0])["n"] == 2
    # the binary case: a Wilson interval, not a bootstrap one (9 of 10 does not reach 1.0)
    c = E.proportion_ci([1.0] * 9 + [0.0])
    assert c["mean"] == 0.9 and c["method"] == "Wilson"
    assert (c["lo"], c["hi"]) == pytest.approx((0.5958, 0.9821), abs=1e-4)


def test_attention_that_points_more_often_is_answered_yes():
    scores = [image(i, {"resnet50": float(i < 10), "se_resnet50": 1.0}) for i in range(40)]
    [c] = E.compare_attention(scores, ENTRIES, ["gradcam"])
    assert c["images"] == 40 and c["verdict"] == "yes"
    assert c["pointing_model"] == 1.0 and c["pointing_baseline"] == 0.25
    assert c["only_model_hits"] == 30 and c["only_baseline_hits"] == 0
    assert c["pointing_difference"]["mean"] == pytest.approx(0.75)
    assert c["pointing_difference"]["lo"] > 0.5
    text = E.answer_text([c], ENTRIES, scores)
    assert "se_resnet50 vs resnet50" in text and "**yes**" in text and "100.0% vs 25.0%" in text


@pytest.mark.slow
def test_equal_or_worse_attention_is_not_answered_yes():
    same = [image(i, {"resnet50": float(i % 2), "se_resnet50": float((i + 1) % 2)}) for i in range(40)]
    [c] = E.compare_attention(same, ENTRIES, ["gradcam"])
    assert c["verdict"] == "no clear difference"
    worse = [image(i, {"resnet50": 1.0, "se_resnet50": float(i < 5)}) for i in range(40)]
    [c] = E.compare_attention(worse, ENTRIES, ["gradcam"])
    assert c["verdict"] == "no (less often)"


def test_the_question_needs_both_kinds_of_model_and_masks():
    scores = [image(i, {"resnet50": 1.0}) for i in range(3)]
    assert "Cannot answer" in E.answer_text([], ENTRIES[:1], scores)
    no_masks = [image(i, {"resnet50": 1.0, "se_resnet50": 1.0}, mask=False) for i in range(3)]
    assert "no image has an object mask" in E.answer_text(E.compare_attention(no_masks, ENTRIES, ["gradcam"]),
                                                          ENTRIES, no_masks)


def test_summary_accuracy_agreement_and_mean_curves():
    scores = [image(i, {"resnet50": 1.0, "se_resnet50": 0.0},
                    preds={"resnet50": 0, "se_resnet50": int(i == 0)}) for i in range(4)]
    s = E.summarize(scores, ENTRIES, ["gradcam"])
    by = {m["name"]: m for m in s["models"]}
    assert by["resnet50"]["accuracy"]["mean"] == 1.0
    assert by["se_resnet50"]["accuracy"]["mean"] == 0.75
    g = by["resnet50"]["methods"]["gradcam"]
    assert g["pointing_game"]["mean"] == 1.0 and g["energy_in_mask"]["mean"] == pytest.approx(0.8)
    assert g["curves"]["fractions"] == [0, 0.25, 0.5, 0.75, 1.0]
    assert g["curves"]["deletion"] == pytest.approx([1, 0.75, 0.5, 0.25, 0])
    [agree] = s["agreement"]
    assert agree["models"] == ["resnet50", "se_resnet50"]
    assert agree["prediction_agreement"]["mean"] == 0.75
    assert agree["top20_iou"]["gradcam"]["mean"] == 0.5
    assert not scores[0].models_agree and scores[1].models_agree


# ----------------------------------------------------------------------------------- mask lookup

def test_masks_are_found_in_the_synthetic_layout_and_in_a_mirror(tmp_path):
    (tmp_path / "set" / "images" / "disc").mkdir(parents=True)
    (tmp_path / "set" / "masks" / "disc").mkdir(parents=True)
    img = tmp_path / "set" / "images" / "disc" / "disc_0001.png"
    img.touch()
    (tmp_path / "set" / "masks" / "disc" / "disc_0001.png").touch()
    root, masks = E.split_dataset_root(tmp_path / "set", None)
    assert root == tmp_path / "set" / "images" and masks == tmp_path / "set" / "masks"
    assert E.mask_path_for(img, root, None) == tmp_path / "set" / "masks" / "disc" / "disc_0001.png"
    assert E.mask_path_for(img, root, masks) == tmp_path / "set" / "masks" / "disc" / "disc_0001.png"
    # a user's mirror: a JPEG photo, its PNG mask
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    (tmp_path / "seg" / "cat").mkdir(parents=True)
    photo = tmp_path / "photos" / "cat" / "1.jpg"
    photo.touch()
    assert E.mask_path_for(photo, tmp_path / "photos", tmp_path / "seg") is None
    (tmp_path / "seg" / "cat" / "1.png").touch()
    assert E.mask_path_for(photo, tmp_path / "photos", tmp_path / "seg") == tmp_path / "seg" / "cat" / "1.png"
    assert E.mask_path_for(photo, tmp_path / "photos", None) is None


def test_load_mask_thresholds_and_caps_the_size(tmp_path):
    arr = np.zeros((1000, 800), np.uint8)
    arr[100:300, 200:400] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    m = E.load_mask(tmp_path / "m.png")
    assert m.dtype.is_floating_point is False and tuple(m.shape) == (512, 410)
    assert m.float().mean().item() == pytest.approx(200 * 200 / (1000 * 800), rel=0.05)


# ---------------------------------------------------------------------------------- files written

def test_line_plot_draws_series_in_their_colours():
    panel = E.Panel("t", "x", "y", [("rising", [0, 1], [0, 1]), ("flat", [0, 1], [0.5, 0.5])])
    img = E.line_plot([panel, panel], panel_size=(300, 200))
    assert img.size == (600, 200)
    colours = {tuple(int(v) for v in c) for c in np.asarray(img).reshape(-1, 3)}
    blue, orange = E.palette(2)
    near = lambda target: any(sum(abs(a - b) for a, b in zip(c, target)) < 30 for c in colours)  # noqa: E731
    assert near(blue) and near(orange)


def test_report_files(tmp_path):
    scores = [image(i, {"resnet50": float(i < 10), "se_resnet50": 1.0}) for i in range(40)]
    scores.append(image(99, {"resnet50": 0.0, "se_resnet50": 0.0}, mask=False))
    report = E.build_report(scores, [E.SkippedImage("/d/a/bad.png", "not an image")], ENTRIES, ["gradcam"],
                            data="/d", masks="/m", layer=None, steps=4, target="true", resamples=200)
    files = E.write_report(report, tmp_path / "out")
    names = sorted(p.name for p in files)
    assert names == ["curves_gradcam.png", "curves_model_resnet50.png", "curves_model_se_resnet50.png",
                     "report.json", "report.md"]

    def no_nan(x):
        raise AssertionError(f"{x} in JSON")
    data = json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=no_nan)
    assert data["format"] == "gcam-desktop/evaluation" and data["images"] == 41
    assert data["images_with_masks"] == 40
    assert data["per_image"][-1]["models"]["resnet50"]["methods"]["gradcam"]["pointing_game"] is None
    assert data["comparison"][0]["verdict"] == "yes"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "point at the object more often" in md and "**yes**" in md
    assert "![resnet50 deletion and insertion curves](curves_model_resnet50.png)" in md
    assert "/d/a/bad.png" in md and "BCa bootstrap" in md and "Holm" in md
    assert "exact McNemar p = " in md and "Holm-adjusted" in md
    with Image.open(tmp_path / "out" / "curves_model_resnet50.png") as im:
        assert im.size == (920, 340)
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temp files


# -------------------------------------------------------------------------------------------- CLI

def test_cli_refuses_bad_input_with_clear_messages(tmp_path, capsys):
    assert evaluate_main([str(tmp_path / "nowhere"), "-c", "x.pt"]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert evaluate_main([str(tmp_path)]) == 2
    assert "no checkpoints" in capsys.readouterr().err
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    assert evaluate_main([str(tmp_path), "-c", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "broken.pt" in err and "no usable checkpoint" in err


def write_masked_set(root, per_class=3, size=40):
    """root/images/<class>/i.png and root/masks/<class>/i.png: a bright square object."""
    rng = np.random.default_rng(0)
    for c in ("disc", "square"):
        (root / "images" / c).mkdir(parents=True)
        (root / "masks" / c).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            mask = np.zeros((size, size), np.uint8)
            y, x = rng.integers(0, size - 16, 2)
            img[y:y + 16, x:x + 16] = 230
            mask[y:y + 16, x:x + 16] = 255
            Image.fromarray(img).save(root / "images" / c / f"{i}.png")
            Image.fromarray(mask).save(root / "masks" / c / f"{i}.png")
    (root / "images" / "disc" / "broken.png").write_bytes(b"not a png")
    return root


def set_checkpoints(folder, archs) -> list[str]:
    """One seeded checkpoint per arch (seed = its position) for write_masked_set's two classes, 32 px."""
    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    paths = []
    for seed, arch in enumerate(archs):
        torch.manual_seed(seed)
        paths.append(str(save_checkpoint(folder / f"{arch}.pt", build_model(arch, 2),
                                         make_meta(arch, ["disc", "square"], input_size=32))))
    return paths


@pytest.mark.slow
def test_cli_end_to_end_on_a_masked_set(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set")
    ckpts = set_checkpoints(tmp_path, ("resnet50", "se_resnet50"))
    out = tmp_path / "report"
    rc = evaluate_main([str(data), "-c", *ckpts, "--steps", "4", *FAST, "--methods", "gradcam", "gradcam++",
                 "--resamples", "200", "--device", "cpu", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "broken.png" in captured.err  # named, and the run went on
    assert "se_resnet50 vs resnet50" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 6 and report["images_with_masks"] == 6 and len(report["skipped"]) == 1
    assert [m["name"] for m in report["models"]] == ["resnet50", "se_resnet50"]
    assert [(c["method"], c["images"]) for c in report["comparison"]] == [("gradcam", 6), ("gradcam++", 6)]
    for m in report["models"]:
        for method in ("gradcam", "gradcam++"):
            b = m["methods"][method]
            assert b["pointing_game"]["n"] == 6 and 0 <= b["deletion_auc"]["mean"] <= 1
            assert len(b["curves"]["deletion"]) == 5
    row = report["per_image"][0]
    assert row["mask"].endswith("0.png") and row["models"]["resnet50"]["true"] == 0
    assert row["models"]["resnet50"]["methods"]["gradcam"]["target"] == 0  # explained the true class
    assert {p.name for p in out.iterdir() if not p.name.startswith(".gcam-run")} == {  # the run's lock aside
        "report.json", "report.md", "curves_gradcam.png", "curves_gradcampp.png", "curves_model_resnet50.png",
        "curves_model_se_resnet50.png"}
    # the same masks through --masks, the images folder given directly
    rc = evaluate_main([str(data / "images"), "-c", ckpts[0], "--masks", str(data / "masks"), "--steps", "2", *FAST,
                 "--limit", "2", "--resamples", "50", "--device", "cpu", "-o", str(tmp_path / "r2")])
    assert rc == 0
    r2 = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert r2["images_with_masks"] == 2 and "Cannot answer" in r2["answer"]


def test_cli_rejects_unknown_methods(tmp_path, capsys):
    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    ck = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn", 2), make_meta("small_cnn", ["a", "b"]))
    assert evaluate_main([str(tmp_path), "-c", str(ck), "--methods", "gradcam", "magic"]) == 2
    assert "unknown method(s) magic" in capsys.readouterr().err


# ------------------------------------------------------------------------ masks of another size

def test_a_mask_at_another_resolution_marks_the_same_pixels(tmp_path):
    arr = np.zeros((300, 400), np.uint8)
    arr[60:180, 100:260] = 255
    Image.fromarray(arr).save(tmp_path / "full.png")
    Image.fromarray(arr).resize((100, 75), Image.NEAREST).save(tmp_path / "quarter.png")
    full, note_full = E.read_mask(tmp_path / "full.png", (400, 300))
    small, note_small = E.read_mask(tmp_path / "quarter.png", (400, 300))
    assert note_full is None and "100x75" in note_small and "scaled to the image" in note_small
    assert full.shape == small.shape == (300, 400)
    iou = (full & small).sum().item() / (full | small).sum().item()
    assert iou > 0.97


def test_a_mask_of_another_aspect_ratio_is_refused(tmp_path):
    Image.new("L", (100, 40), 255).save(tmp_path / "wide.png")
    with pytest.raises(E.MaskError, match="another aspect ratio"):
        E.read_mask(tmp_path / "wide.png", (100, 100))
    Image.new("L", (51, 50), 255).save(tmp_path / "rounded.png")  # one pixel off: a rounding, fine
    assert E.read_mask(tmp_path / "rounded.png", (100, 100))[0].shape == (100, 100)


def test_cli_says_per_file_which_masks_were_scaled_or_refused(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set")
    masks = data / "masks" / "disc"
    Image.open(masks / "0.png").resize((20, 20), Image.NEAREST).save(masks / "0.png")  # half size
    Image.open(masks / "1.png").resize((40, 20), Image.NEAREST).save(masks / "1.png")  # squashed
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "report"
    rc = evaluate_main([str(data), "-c", str(ck), "--steps", "2", *FAST, "--resamples", "50", "--device", "cpu",
                        "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    lines = err.splitlines()
    assert any("disc/0.png" in ln and "20x20" in ln and "scaled to the image" in ln for ln in lines), err
    assert any("disc/1.png" in ln and "another aspect ratio" in ln and "not used" in ln for ln in lines), err
    report = json.loads((out / "report.json").read_text())
    assert report["images_with_masks"] == 5  # the squashed mask is not used
    assert len(report["mask_notes"]) == 2 and "Masks rescaled or not used" in (out / "report.md").read_text()


def test_arch_equals_checkpoint_is_taken_and_checked(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set")
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    rc = evaluate_main([str(data), "-c", f"resnet50={ck}", "--steps", "2", *FAST, "-o", str(tmp_path / "r1")])
    err = capsys.readouterr().err
    assert rc == 2 and "small_cnn.pt" in err and "small_cnn" in err and "resnet50" in err
    rc = evaluate_main([str(data), "-c", f"small_cnn={ck}", "--steps", "2", *FAST, "--resamples", "20",
                        "--device", "cpu", "-o", str(tmp_path / "r2")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "r2" / "report.json").is_file()


def test_cli_corpus_and_unwritable_out(tmp_path, bad_files, capsys):
    assert evaluate_main([str(bad_files["loopdir"]), "-c", "x.pt"]) == 2
    assert "symbolic link loop" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (tmp_path / "data").mkdir()
    assert evaluate_main([str(tmp_path / "data"), "-c", str(bad_files["page.pt"]), "-o", str(blocker / "o")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"gcam-evaluate: cannot write {blocker / 'o'}: {blocker} is a file, not a folder"
    assert evaluate_main([str(tmp_path / "data"), "-c", str(bad_files["page.pt"]), str(bad_files["code.pt"]),
                          "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "web page" in err and "asks to run Python code" in err and "no usable checkpoint" in err

# ------------------------------------------------------------------------------ attention switched off

SWITCHED = [entry("se_resnet50", "se_resnet50"),
            E.ModelEntry("se_resnet50 (attention off)", nn.Identity(), {"arch": "se_resnet50"},
                         attention="off", base="se_resnet50")]


def switch_image(i, on_hit, off_hit, on_pred=0, off_pred=0):
    return E.ImageScore(path=f"/d/a/{i}.png", mask=f"/m/a/{i}.png", models={
        "se_resnet50": E.ModelScore(on_pred, 0.9, 0, {"gradcam": method_score(on_hit, energy=0.6, dele=0.2)}),
        "se_resnet50 (attention off)": E.ModelScore(off_pred, 0.8, 0, {"gradcam": method_score(
            off_hit, energy=0.4, dele=0.3)})})


@pytest.mark.slow
def test_attention_that_makes_maps_point_more_often_is_answered_yes_paired():
    scores = [switch_image(i, 1.0, float(i < 10), off_pred=int(i < 4)) for i in range(40)]
    [c] = E.compare_switch(scores, SWITCHED, ["gradcam"], resamples=300)
    assert c["verdict"] == "yes" and c["images"] == 40 and c["attention"] == "off"
    assert c["only_with_hits"] == 30 and c["only_without_hits"] == 0
    p = c["metrics"]["pointing_game"]
    assert p["with"] == 1.0 and p["without"] == 0.25 and p["difference"]["mean"] == pytest.approx(0.75)
    assert c["metrics"]["energy_in_mask"]["difference"]["mean"] == pytest.approx(0.2)
    assert c["metrics"]["deletion_auc"]["difference"]["mean"] == pytest.approx(-0.1)
    assert c["prediction_changed"]["mean"] == pytest.approx(0.1)
    text = E.switch_answer([c])
    assert "se_resnet50, attention on vs off" in text and "**yes**" in text and "100.0% with vs 25.0%" in text
    assert "changes on 10%" in text
    worse = [switch_image(i, float(i < 5), 1.0) for i in range(40)]
    assert E.compare_switch(worse, SWITCHED, ["gradcam"], resamples=300)[0]["verdict"].startswith("no (it points")
    assert "Not asked" in E.switch_answer([])
    # the attention-off copy is not mistaken for another attention model against the baseline
    compared = E.compare_attention(scores, [entry("resnet50", "resnet50"), *SWITCHED], ["gradcam"])
    assert [c["model"] for c in compared] == ["se_resnet50"]


def test_attention_variants_follow_their_model_and_skip_models_without_gates():
    from gcam_desktop.models import build_model

    se, plain = build_model("se_resnet50", 2), build_model("resnet50", 2)
    entries = [E.ModelEntry("resnet50", plain, {"arch": "resnet50"}),
               E.ModelEntry("se_resnet50", se, {"arch": "se_resnet50"})]
    out = E.attention_variants(entries, "off")
    assert [e.name for e in out] == ["resnet50", "se_resnet50", "se_resnet50 (attention off)"]
    assert out[2].model is se and out[2].attention == "off" and out[2].base == "se_resnet50"
    assert E.attention_variants(entries, "on") == entries
    with pytest.raises(ValueError, match="on, off or mean"):
        E.attention_variants(entries, "sometimes")
    with pytest.raises(ValueError, match="reference folder"):
        E.attention_variants(entries, "mean")


@pytest.mark.slow
def test_attention_mean_variant_holds_the_gates_at_their_reference_means(tmp_path):
    from gcam_desktop.explain.attention import attention_gates
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.models import build_model

    data = write_masked_set(tmp_path / "set", per_class=2)
    torch.manual_seed(0)
    se = build_model("s_se_resnet50", 2).eval()
    meta = {"arch": "s_se_resnet50", "class_names": ["disc", "square"], "input_size": 32}
    [_, mean] = E.attention_variants([E.ModelEntry("s_se", se, meta)], "mean", reference=data / "images")
    assert mean.name == "s_se (attention mean)" and mean.attention == "mean"
    good = sorted(p for p in (data / "images").rglob("*.png") if p.name != "broken.png")
    x = preprocess_batch([load_image(p) for p in good], meta)
    direct = attention_gates(se, x)
    assert list(mean.gate_means) == ["layer1", "layer2", "layer3", "layer4"]
    for name, g in direct.items():
        assert torch.allclose(mean.gate_means[name], g.mean(0), atol=1e-5)


@pytest.mark.slow
def test_cli_attention_off_scores_the_same_models_switched_off(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=2)
    ckpts = set_checkpoints(tmp_path, ("resnet50", "s_se_resnet50"))
    out = tmp_path / "report"
    rc = evaluate_main([str(data), "-c", *ckpts, "--steps", "2", *FAST, "--attention", "off", "--resamples", "100",
                        "--device", "cpu", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "s_se_resnet50, attention on vs off (gradcam, 4 images" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert [(m["name"], m["attention"]) for m in report["models"]] == [
        ("resnet50", "on"), ("s_se_resnet50", "on"), ("s_se_resnet50 (attention off)", "off")]
    assert report["settings"]["attention"] == "off"
    [c] = report["attention_switch"]
    assert c["model"] == "s_se_resnet50" and c["images"] == 4
    assert c["metrics"]["pointing_game"]["images"] == 4
    assert [x["model"] for x in report["comparison"]] == ["s_se_resnet50"]  # vs resnet50, as trained only
    # switched off means switched off: its probabilities are those of the model with every gate 1
    from gcam_desktop.explain import explain
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.models import load_checkpoint

    model, meta = load_checkpoint(ckpts[1])
    row = report["per_image"][0]
    x = preprocess_batch([load_image(row["path"])], meta)
    off = explain(model, x, attention="off")
    assert row["models"]["s_se_resnet50 (attention off)"]["prob"] == pytest.approx(float(off.probs.max()), abs=1e-5)
    md = (out / "report.md").read_text()
    assert "Does the attention make the maps point at the object more often?" in md
    # --attention off with no attention model: said, and scored as it is
    rc = evaluate_main([str(data), "-c", ckpts[0], "--steps", "2", *FAST, "--attention", "off", "--limit", "1",
                        "--resamples", "20", "--device", "cpu", "-o", str(tmp_path / "r2")])
    assert rc == 0 and "none of the models has attention gates" in capsys.readouterr().err
