"""DeepLIFT, occlusion and RISE through the front ends: gcam-explain (with their options),
gcam-evaluate (their maps scored), and the sanity checks (the cascade runs for them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gcam_desktop.cli import evaluate as evaluate_cli
from gcam_desktop.cli import explain as explain_cli
from gcam_desktop.explain.sanity import parameter_randomisation
from gcam_desktop.models import load_checkpoint
from tests.evaluation.test_evaluate import FAST, set_checkpoints, write_masked_set

THREE = {"deeplift": ["reference=blur"], "occlusion": ["patch=8", "stride=4", "fill=zero"],
         "rise": ["masks=16", "cell=8", "keep=0.5"]}


def test_gcam_explain_runs_the_three_with_their_options(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=1)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    for method, options in THREE.items():
        out = tmp_path / f"maps_{method}"
        argv = ["--weights", ck, "--method", method, *[a for o in options for a in ("--option", o)],
                "--out", str(out), "--no-progress", str(data / "images" / "square")]
        assert explain_cli.main(argv) == 0, capsys.readouterr().err
        [raw] = sorted(out.rglob(f"*.{method}.top1.npy"))
        arr = np.load(raw)
        assert arr.shape == (32, 32) and np.isfinite(arr).all() and np.abs(arr).max() > 0


@pytest.mark.slow
def test_gcam_evaluate_and_the_sanity_checks_run_the_three(tmp_path, capsys):
    data = write_masked_set(tmp_path / "set", per_class=1)
    [ck] = set_checkpoints(tmp_path, ["small_cnn"])
    out = tmp_path / "report"
    code = evaluate_cli.main([str(data), "-c", ck, "--methods", *THREE, "--steps", "2", *FAST,
                              "--resamples", "20", "--device", "cpu", "--no-dup-check", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert list(report["models"][0]["methods"]) == list(THREE)

    model, meta = load_checkpoint(ck)
    assert model.input_normalization == (tuple(meta["mean"]), tuple(meta["std"]))
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    options = {"occlusion": {"patch": 8, "stride": 8}, "rise": {"masks": 8, "cell": 8}}
    results = parameter_randomisation(model, image, list(THREE), options=options, independent=False)
    stages = len(results[0].cascade)
    assert stages >= 3 and all(len(r.cascade) == stages for r in results)
    assert [r.method for r in results] == list(THREE)
