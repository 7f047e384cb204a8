"""gcam-evaluate's command line: numeric options checked before any work (issue 24), one run at
a time in an output folder, and a report written whatever values the models give (NaN included)."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

from gcam_desktop import evaluation as E
from gcam_desktop.cli import evaluate as cli
from gcam_desktop.evaluation.formatting import difference, format_interval, number
from gcam_desktop.explain import METHODS
from gcam_desktop.run_folder import FolderBusy, RunFolder
from tests.evaluation.test_evaluate import ENTRIES, FAST, image, set_checkpoints, write_masked_set


# ------------------------------------------------------------------------------- numeric options

@pytest.mark.parametrize("option, value, words", [
    ("--resamples", "0", "must be at least 1, not 0"),
    ("--forward-batch", "0", "must be at least 1, not 0"),
    ("--per-class", "0", "must be at least 1, not 0"),
    ("--limit", "0", "must be at least 1, not 0"),
    ("--steps", "0", "must be at least 1, not 0"),
    ("--steps", "-3", "must be at least 1, not -3"),
    ("--batch-size", "0", "must be at least 1, not 0"),
    ("--seed", "-1", "must be at least 0, not -1"),
    ("--limit", "ten", "expected a whole number, not 'ten'"),
])
def test_a_bad_number_is_refused_up_front_in_one_line(tmp_path, capsys, option, value, words):
    out = tmp_path / "out"
    assert cli.main([str(tmp_path), "-c", "x.pt", option, value, "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"gcam-evaluate: argument {option}: {words}", "(see gcam-evaluate --help)"]
    assert not out.exists()  # refused before anything was made


def test_usage_errors_found_after_parsing_take_the_same_form(tmp_path, capsys):
    assert cli.main([str(tmp_path), "-c", "x.pt", "--methods", "magic", "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"gcam-evaluate: unknown method(s) magic; choose from {', '.join(METHODS)}",
        "(see gcam-evaluate --help)"]
    assert cli.main([str(tmp_path), "-c", "x.pt", "--device", "abacus", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("gcam-evaluate: argument --device: ") and "abacus" in err[0] and len(err) == 2


def test_zero_is_not_a_silent_no_limit_in_the_library_either(tmp_path):
    with pytest.raises(ValueError, match="per_class must be at least 1"):
        E.select_images(tmp_path, per_class=0)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        E.select_images(tmp_path, limit=0)


# ------------------------------------------------------------------------- one run per folder

HOLD = textwrap.dedent("""
    import sys
    from gcam_desktop.run_folder import RunFolder
    with RunFolder(sys.argv[1], "gcam-test"):
        print("held", flush=True)
        sys.stdin.readline()
""")


@pytest.mark.slow
def test_a_second_process_into_the_same_folder_is_refused_in_one_line(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    argv = [sys.executable, "-m", "gcam_desktop.cli.evaluate", str(tmp_path), "-c", "x.pt", "-o", str(out)]
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        holder.communicate("\n", timeout=60)
    assert second.returncode == 1, second.stderr
    [line] = second.stderr.splitlines()
    assert line.startswith(f"gcam-evaluate: cannot write {out}: another run is writing there (gcam-test, "
                           f"process {holder.pid}, started ")
    assert line.endswith("; wait for it to finish or choose another folder")
    assert not any(out.glob("report*"))
    # the holder gone, the same command gets past the folder (to its missing checkpoint)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "no usable checkpoint" in again.stderr and "another run" not in again.stderr


@pytest.mark.slow
def test_main_refuses_a_folder_held_in_this_process_and_holds_it_for_the_whole_run(tmp_path, capsys,
                                                                                   monkeypatch):
    data = write_masked_set(tmp_path / "set", per_class=1)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "out"
    argv = [str(data), "-c", ck, "--steps", "2", "--resamples", "10", "--device", "cpu", "--no-dup-check",
            "-o", str(out)]
    with RunFolder(out, "gcam-test"):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"gcam-evaluate: cannot write {out}: another run is writing there (gcam-test")
        assert "\n" not in err and not (out / "report.json").exists()
    busy_while_writing = []
    real_write = cli.write_report

    def write_report(report, folder):
        with pytest.raises(FolderBusy):  # another run is refused while this one writes
            RunFolder(folder, "gcam-probe").claim()
        busy_while_writing.append(True)
        return real_write(report, folder)

    monkeypatch.setattr(cli, "write_report", write_report)
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert busy_while_writing and (out / "report.json").is_file()
    with RunFolder(out, "gcam-test") as after:  # and free once the run has ended
        assert after.held


# ------------------------------------------------------------------------------- NaN and missing

def test_missing_and_non_finite_values_format_as_a_dash_with_the_reason():
    assert number(None) == "–" and number(math.nan, why="output not finite") == "– (output not finite)"
    assert number(math.inf, ".1%") == "–" and number(0.25, ".1%") == "25.0%"
    assert format_interval({"mean": math.nan, "lo": 0.0, "hi": 1.0}, why="no masks") == "– (no masks)"
    assert format_interval(None) == "–" and format_interval({"mean": 0.5, "lo": 0.25, "hi": 0.75}) == \
        "0.500 [0.250, 0.750]"
    assert difference({"mean": None, "lo": None, "hi": None, "n": 0}) == "–"


def test_the_answer_survives_a_comparison_without_energy_values():
    """Pointing game known but no finite energy (a NaN map): the text says so instead of crashing."""
    scores = [image(i, {"resnet50": float(i < 10), "se_resnet50": 1.0}) for i in range(20)]
    for s in scores:
        for m in s.models.values():
            m.methods["gradcam"].energy_in_mask = math.nan
    comparison = E.compare_attention(scores, ENTRIES, ["gradcam"], resamples=50)
    text = E.answer_text(comparison, ENTRIES, scores)
    assert "**yes**" in text and "Energy in mask difference –" in text


def test_a_model_whose_output_is_nan_still_gets_a_report_without_nan(tmp_path, capsys, monkeypatch):
    data = write_masked_set(tmp_path / "set", per_class=2)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    real_load = cli.load_entries

    def load_nan(checkpoints, device=None):  # as a checkpoint with NaN weights would behave
        entries = real_load(checkpoints, device)
        for e in entries:
            e.model.register_forward_hook(lambda module, inputs, output: output * math.nan)
        return entries

    monkeypatch.setattr(cli, "load_entries", load_nan)
    out = tmp_path / "out"
    rc = cli.main([str(data), "-c", ck, "--steps", "2", *FAST, "--resamples", "20", "--device", "cpu",
                   "--no-dup-check", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "small_cnn: its output was not finite (NaN or infinite) on 4 of 4 images" in err

    def no_nan(x):
        raise AssertionError(f"{x} written as a result")

    report = json.loads((out / "report.json").read_text(), parse_constant=no_nan)
    [model] = report["models"]
    assert model["outputs_not_finite"] == 4
    assert model["accuracy"]["mean"] is None  # not the 100 % an argmax over NaN would give
    assert all(b["mean"] is None for k, b in model["methods"]["gradcam"].items() if k != "curves")
    row = report["per_image"][0]["models"]["small_cnn"]
    assert row["pred"] is None and row["prob"] is None and row["output_finite"] is False
    md = (out / "report.md").read_text()
    table = next(ln for ln in md.splitlines() if ln.startswith("| small_cnn |"))
    assert table.count("– (output not finite)") == 9  # accuracy and the eight metrics
    assert "its output was not finite (NaN or infinite) on 4 of 4 images" in md


@pytest.mark.slow
def test_a_method_a_model_cannot_run_is_left_out_in_one_line(tmp_path, capsys):
    """CAM needs the layer that feeds the pooled linear head; a 32 px ResNet50 explains layer2 by
    default, where CAM cannot run. It used to end gcam-evaluate in a traceback halfway through."""
    from gcam_desktop.cli import evaluate as cli

    data = write_masked_set(tmp_path / "set", per_class=1, size=32)
    [ck] = set_checkpoints(tmp_path, ["resnet50"])
    out = tmp_path / "report"
    code = cli.main([str(data), "-c", ck, "--methods", "gradcam", "cam", "--steps", "2", *FAST,
                     "--resamples", "20", "--device", "cpu", "--no-dup-check", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("gcam-evaluate: leaving out cam:")]
    report = json.loads((out / "report.json").read_text())
    assert list(report["models"][0]["methods"]) == ["gradcam"]
