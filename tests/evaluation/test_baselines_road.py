"""gcam-evaluate scores the baseline maps and ROAD beside the methods (issue 20)."""

import json

import pytest

from gcam_desktop.cli import evaluate as cli
from tests.evaluation.test_evaluate import set_checkpoints, write_masked_set


@pytest.mark.slow
def test_baselines_and_road_reach_the_report(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=2, size=32)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "report"
    rc = cli.main([str(data), "-c", ck, "--steps", "2", "--road", "70", "30", "--resamples", "50",
                   "--device", "cpu", "--no-dup-check", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["road_percentages"] == [30.0, 70.0]
    assert report["settings"]["baselines"] == ["random", "centre", "edges"]
    [model] = report["models"]
    for block in (model["methods"]["gradcam"], *model["baselines"].values()):
        assert 0 <= block["road_morf"]["mean"] <= 1 and 0 <= block["road_lerf"]["mean"] <= 1
        assert block["pointing_game"]["n"] == 4 and block["pointing_game"]["method"] == "Wilson"
    assert set(model["baselines"]) == {"random", "centre", "edges"}
    rows = report["baseline_tests"]
    assert [(r["method"], r["baseline"]) for r in rows] == [("gradcam", b) for b in ("random", "centre", "edges")]
    assert rows[0]["metrics"]["pointing_game"]["test"] == "exact McNemar"
    assert rows[0]["metrics"]["road_morf"]["test"] == "Wilcoxon signed-rank"
    per_image = report["per_image"][0]["models"]["small_cnn"]["methods"]
    assert {"gradcam", "baseline:random", "baseline:centre", "baseline:edges"} <= set(per_image)
    md = (out / "report.md").read_text()
    assert "## Baselines: maps that know nothing of the model" in md and "| small_cnn | Sobel edges |" in md
    assert "### Does gradcam beat the baselines?" in md and "ROAD, most relevant removed first" in md
    # 4 images cannot give 6 that disagree: no verdict beyond "not enough evidence" / "no clear difference"
    assert "beats it" not in md
    # and the words for a method that does not beat the edge detector
    assert "gradcam on small_cnn does not beat the Sobel edge map on pointing game" in md


@pytest.mark.parametrize("value, words", [("0", "must be in (0, 100), not 0"), ("100", "must be in (0, 100), not 100"),
                                          ("half", "expected a number, not 'half'")])
def test_a_bad_road_percentage_is_refused_in_one_line(tmp_path, capsys, value, words):
    assert cli.main([str(tmp_path), "-c", "x.pt", "--road", value, "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"gcam-evaluate: argument --road: {words}"


def test_road_is_opt_in_and_no_baselines_leaves_them_out_and_says_why(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=1, size=32)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "report"
    assert cli.main([str(data), "-c", ck, "--steps", "2", "--no-baselines", "--resamples", "20",
                     "--device", "cpu", "--no-dup-check", "-o", str(out)]) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["baseline_tests"] == [] and "baselines" not in report["models"][0]
    assert report["models"][0]["methods"]["gradcam"]["road_morf"]["mean"] is None
    md = (out / "report.md").read_text()
    assert "ROAD not run" in md and "## Baselines" not in md
