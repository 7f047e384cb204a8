"""Checkpoints that lie (tests/corpus/checkpoints.py), refused at load in one line naming the
file and the field or tensor, through the library, gcam-explain and gcam-evaluate; honest
files in another precision load as float32."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from corpus.checkpoints import CLASSES, LOADS, REFUSED
from gcam_desktop.models import CheckpointError, load_checkpoint, read_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", REFUSED)
def test_a_lying_checkpoint_is_refused_in_one_line(lying_checkpoints, name):
    case = lying_checkpoints[0][name]
    for load in (load_checkpoint, read_checkpoint):  # the app and CLIs, and the trainer's resume / --init
        with pytest.raises(CheckpointError) as info:
            load(case.path)
        case.assert_refused(str(info.value))


@pytest.mark.parametrize("name", LOADS)
def test_another_precision_loads_and_computes_in_float32(lying_checkpoints, name):
    model, meta = load_checkpoint(lying_checkpoints[1][name])
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.dtype == torch.float32 for t in tensors)
    x = torch.rand(2, 3, 32, 32)  # float32 input, as preprocessing makes it: no dtype mismatch
    with torch.no_grad():
        assert model(x).dtype == torch.float32 and torch.isfinite(model(x)).all()
    assert meta["class_names"] == CLASSES


def test_finite_weights_whose_sum_overflows_are_not_refused():
    from gcam_desktop.models.tensor_checks import as_checked_float32

    big = torch.full((4,), 3e38)  # every value finite, their float32 sum infinite
    assert torch.equal(as_checked_float32("x.pt", {"w": big})["w"], big)


def _imports(module: Path) -> set[str]:
    """The gcam_desktop.models modules `module` imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module or "")
    return found


def test_checkpoint_modules_depend_one_way():
    """resolver -> {checkpoint, pretrained} -> meta: no module below imports one above it."""
    models = ROOT / "gcam_desktop" / "models"
    above = {"meta": {"checkpoint", "pretrained", "resolver", "tensor_checks"},
             "tensor_checks": {"checkpoint", "pretrained", "resolver"},
             "checkpoint": {"pretrained", "resolver"}, "pretrained": {"resolver"}}
    for name, forbidden in above.items():
        assert not _imports(models / f"{name}.py") & forbidden, name


# ------------------------------------------------------------------------------ gcam-explain

EXPLAIN_CASES = ("std_zeros", "class_names_numbers", "nan_classifier", "int8_safetensors")


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return path


def test_gcam_explain_skips_lying_models_in_one_line_and_writes_no_nan(lying_checkpoints, photo, tmp_path, capsys):
    from gcam_desktop.cli import explain

    cases, loads = lying_checkpoints
    out = tmp_path / "out"
    code = explain.main(["--weights", str(loads["float64"]), *(str(cases[n].path) for n in EXPLAIN_CASES),
                         "--out", str(out), "--no-progress", "--device", "cpu", str(photo)])
    err = capsys.readouterr().err
    assert code == 1, err  # the lying models failed ...
    assert "Traceback" not in err
    for name in EXPLAIN_CASES:
        lines = [ln for ln in err.splitlines() if str(cases[name].path) in ln]
        assert lines, err
        for line in lines:  # said live, then in the closing summary; never per image
            cases[name].assert_refused(line)
    maps = sorted(out.rglob("*.npy"))  # ... and the honest float64 one was explained
    assert [m.parent.name for m in maps] == ["float64"]
    assert all(np.isfinite(np.load(m)).all() for m in maps)


MEMORY_LIMITED_EXPLAIN = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # a regression fails here, not the machine
from gcam_desktop.cli import explain
for weights, out in ((sys.argv[2], sys.argv[4]), (sys.argv[3], sys.argv[5])):
    code = explain.main(["--weights", weights, "--out", out, "--no-progress", "--device", "cpu", sys.argv[6]])
    print("exit", code, file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_gcam_explain_refuses_an_input_size_of_100000_under_a_memory_limit(lying_checkpoints, photo, tmp_path):
    """The honest checkpoint is explained within the limit, so the limit leaves room for the
    work; the 100000 px one (which grew gcam-explain to 24 GB) is refused before any image."""
    cases, loads = lying_checkpoints
    case = cases["input_size_100000"]
    done = subprocess.run([sys.executable, "-c", MEMORY_LIMITED_EXPLAIN, str(6 << 30), str(loads["float16"]),
                           str(case.path), str(tmp_path / "good"), str(tmp_path / "bad"), str(photo)],
                          capture_output=True, text=True, timeout=300)
    exits = [ln for ln in done.stderr.splitlines() if ln.startswith("exit ")]
    assert exits == ["exit 0", "exit 1"], done.stderr
    lines = [ln for ln in done.stderr.splitlines() if str(case.path) in ln]
    assert lines and "Traceback" not in done.stderr, done.stderr
    for line in lines:
        case.assert_refused(line)
    assert list((tmp_path / "good").rglob("*.npy")) and not list((tmp_path / "bad").rglob("*.npy"))


# ------------------------------------------------------------------------------ gcam-evaluate

EVALUATE_CASES = ("mean_string", "class_names_fewer", "inf_convolution", "nan_running_var")


@pytest.mark.slow
def test_gcam_evaluate_skips_lying_checkpoints_in_one_line(lying_checkpoints, tmp_path, capsys):
    from gcam_desktop.cli.evaluate import main as evaluate

    cases, loads = lying_checkpoints
    data = tmp_path / "data"
    rng = np.random.default_rng(1)
    for c in CLASSES:
        (data / c).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(data / c / "0.png")
    out = tmp_path / "report"
    code = evaluate([str(data), "-c", str(loads["float64"]), *(str(cases[n].path) for n in EVALUATE_CASES),
                     "--steps", "2", "--resamples", "20", "--no-dup-check", "--device", "cpu", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err and "DoubleTensor" not in err
    for name in EVALUATE_CASES:
        [line] = [ln for ln in err.splitlines() if str(cases[name].path) in ln]  # once, not per image
        assert line.startswith("gcam-evaluate: skipping checkpoint ")
        cases[name].assert_refused(line)
    report = json.loads((out / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["float64"]  # the float64 one, scored, named by its file (models/names.model_names)
    auc = report["models"][0]["methods"]["gradcam"]["deletion_auc"]["mean"]
    assert auc is not None and math.isfinite(auc)
