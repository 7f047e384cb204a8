"""gcam-evaluate --sanity: the cascade, class sensitivity and data randomisation in the report (issue 20)."""

import json

import pytest

from PIL import Image

from gcam_desktop.cli import evaluate as cli
from tests.evaluation.test_evaluate import FAST, set_checkpoints, write_masked_set


def run(tmp_path, capsys, *extra):
    out = tmp_path / "report"
    rc = cli.main([str(tmp_path / "set"), "--steps", "1", *FAST, "--resamples", "20", "--device", "cpu",
                   "--no-dup-check", "-o", str(out), *extra])
    captured = capsys.readouterr()
    return rc, captured, out


@pytest.mark.slow
def test_a_model_without_layer4_gets_its_curves_and_no_verdict(tmp_path, capsys):
    write_masked_set(tmp_path / "set", per_class=1, size=32)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    rc, captured, out = run(tmp_path, capsys, "-c", ck, "--sanity", "--sanity-images", "2", "--sanity-independent")
    assert rc == 0, captured.err
    sanity = json.loads((out / "report.json").read_text())["sanity"]
    assert sanity["images"] == 2 and sanity["independent"] is True
    [m] = sanity["models"]
    b = m["methods"]["gradcam"]
    assert b["verdict"]["result"] == "no verdict" and "layer4" in b["verdict"]["why"]
    assert b["stages"][0] == "original" and len(b["cascade"]["spearman"]) == len(b["stages"])
    assert b["cascade"]["spearman"][0] == {"mean": 1.0, "sd": 0.0, "n": 2}
    assert b["class_sensitivity"]["spearman"]["n"] == 2 and b["class_sensitivity"]["result"] in ("passes", "fails")
    assert len(b["independent"]["spearman"]) == len(b["stages"]) - 1  # one per stage, no original point
    md = (out / "report.md").read_text()
    assert "## Sanity checks" in md and "no verdict (the model has no layer4 stage)" in md
    assert "![sanity_cascade_small_cnn.png](sanity_cascade_small_cnn.png)" in md
    with Image.open(out / "sanity_cascade_small_cnn.png") as im:
        assert im.size == (620, 360)
    assert "sanity: gradcam on small_cnn: no verdict" in captured.out


@pytest.mark.slow
def test_resnet50_follows_the_pass_rule_and_compares_with_shuffled_labels(tmp_path, capsys):
    write_masked_set(tmp_path / "set", per_class=1, size=32)
    real, shuffled = set_checkpoints(tmp_path, ["resnet50", "resnet50"])  # the second: another seed
    rc, captured, out = run(tmp_path, capsys, "-c", real, "--sanity-data", shuffled, "--sanity-images", "2")
    assert rc == 0, captured.err
    sanity = json.loads((out / "report.json").read_text())["sanity"]
    b = sanity["models"][0]["methods"]["gradcam"]
    assert b["stages"] == ["original", "fc", "layer4", "layer3", "layer2", "layer1", "stem"]
    v = b["verdict"]
    assert v["after"]["n"] == 2 and v["after"]["sd"] is not None
    assert v["after"]["mean"] == b["cascade"]["spearman"][2]["mean"]  # the value after layer4
    assert v["result"] == ("passes" if v["after"]["mean"] < 0.5 else "fails")
    assert "independent" not in b  # only on request
    d = b["data_randomisation"]
    assert d["spearman"]["n"] == 2 and d["result"] == ("passes" if d["spearman"]["mean"] < 0.5 else "fails")
    assert sanity["shuffled"] == shuffled
    md = (out / "report.md").read_text()
    assert "real vs shuffled labels (Spearman)" in md and "Spearman after layer4" in md


@pytest.mark.slow
def test_a_shuffled_checkpoint_of_another_architecture_is_refused_in_one_line(tmp_path, capsys):
    write_masked_set(tmp_path / "set", per_class=1, size=32)
    real, other = set_checkpoints(tmp_path, ["resnet50", "small_cnn"])
    rc, captured, out = run(tmp_path, capsys, "-c", real, "--sanity-data", other)
    assert rc == 2
    first = captured.err.splitlines()[0]
    assert first == (f"gcam-evaluate: argument --sanity-data: {other} holds a small_cnn, but the models scored "
                     "are resnet50; give a shuffled-labels checkpoint of the same architecture")
    assert not (out / "report.json").exists()


def test_sanity_images_is_checked_up_front(tmp_path, capsys):
    assert cli.main([str(tmp_path), "-c", "x.pt", "--sanity-images", "0", "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "gcam-evaluate: argument --sanity-images: must be at least 1, not 0"


def test_the_checks_share_one_original_map_per_method(monkeypatch):
    """gcam-evaluate's sanity checks explain each method once for the two classes of the class
    test and reuse its first map as the cascade's and the data test's original: one call, one
    per stage and one of the shuffled model per method and image, with the same numbers as the
    cascade and the data test computed on their own."""
    import torch

    from gcam_desktop.evaluation.inputs import ModelEntry
    from gcam_desktop.evaluation.sanity_run import run_sanity
    from gcam_desktop.explain import engine
    from gcam_desktop.explain.sanity import parameter_randomisation, similarity
    from gcam_desktop.models import build_model, make_meta

    torch.manual_seed(0)
    meta = make_meta("small_cnn", ["a", "b", "c"], input_size=32)
    real, shuffled = (ModelEntry(n, build_model("small_cnn", 3).eval(), meta) for n in ("real", "shuffled"))
    image = Image.new("RGB", (32, 32), (120, 60, 200))
    for x in range(10, 20):
        image.putpixel((x, x), (255, 255, 0))
    calls = []
    explain = engine.explain

    def counting(model, x, method, **kw):
        calls.append(method)
        return explain(model, x, method, **kw)

    monkeypatch.setattr(engine, "explain", counting)
    out = run_sanity([real], [image], ["gradcam", "saliency"], shuffled=shuffled)
    stages = len(out["models"][0]["methods"]["gradcam"]["stages"]) - 1
    assert stages == 5  # small_cnn: fc3, fc2, fc1, conv2, conv1
    assert calls.count("gradcam") == calls.count("saliency") == 1 + stages + 1
    monkeypatch.setattr(engine, "explain", explain)

    from gcam_desktop.imaging.preprocess import preprocess_batch

    x = preprocess_batch([image], meta)
    alone = {s.method: s for s in parameter_randomisation(real.model, x, ["gradcam", "saliency"], independent=False)}
    for m in ("gradcam", "saliency"):
        got = out["models"][0]["methods"][m]
        want = [1.0] + [step.input_res.spearman for step in alone[m].cascade]
        assert [p["mean"] for p in got["cascade"]["spearman"]] == pytest.approx(want, abs=1e-6)
        theirs = explain(shuffled.model, x, m, targets=alone[m].target)
        mine = explain(real.model, x, m, targets=alone[m].target)
        assert got["data_randomisation"]["spearman"]["mean"] == pytest.approx(
            similarity(mine.maps[0, 0], theirs.maps[0, 0]).spearman, abs=1e-6)


@pytest.mark.slow  # gcam-explain's --option test is the fast tier's
def test_method_options_reach_every_explanation_and_the_report(tmp_path, capsys, monkeypatch):
    """--option METHOD:NAME=VALUE: the scores, the class test and every cascade stage explain
    with it, the report says it, and a bad one is refused before any model loads."""
    from gcam_desktop.explain import engine

    write_masked_set(tmp_path / "set", per_class=1, size=32)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    seen = []
    explain = engine.explain

    def recording(model, x, method, **kw):
        seen.append((method, kw.get("masks"), kw.get("cell")))
        return explain(model, x, method, **kw)

    monkeypatch.setattr(engine, "explain", recording)
    rc, captured, out = run(tmp_path, capsys, "-c", ck, "--methods", "gradcam", "rise", "--option", "rise:masks=6",
                            "--option", "rise:cell=8", "--sanity", "--sanity-images", "1")
    assert rc == 0, captured.err
    rise = [s for s in seen if s[0] == "rise"]
    assert len(rise) >= 1 + 1 + 5 and set(rise) == {("rise", 6, 8)}  # scores, class test, stages
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["method_options"] == {"rise": {"masks": 6, "cell": 8}}
    assert "Method options: rise masks=6, cell=8." in (out / "report.md").read_text()

    for bad, says in ((["--option", "rise:mask=6"], "rise has no such option; its options: masks"),
                      (["--option", "lrp:composite=epsilon"], "lrp is not among --methods")):
        rc, captured, _ = run(tmp_path, capsys, "-c", ck, "--methods", "rise", *bad)
        assert rc == 2 and says in captured.err
