"""gcam-evaluate counts scored pictures with a near-duplicate in the checkpoint run's training split."""

from __future__ import annotations

import pytest
import json
from pathlib import Path

from PIL import Image

from gcam_desktop.cli.evaluate import main as evaluate_main
from gcam_desktop.evaluation import ModelEntry
from gcam_desktop.evaluation.leakage import near_duplicates_in_training, run_split_of, statement
from gcam_desktop.similarity.edits import EDITS
from tests.evaluation.test_evaluate import FAST


def _run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(training data root, RUN_DIR/small_cnn/best.pt, a folder to score: 1 flipped copy + 2 others)."""
    from gcam_desktop.models import build_model, make_meta, save_checkpoint
    from training.data import DatasetSplit
    from training.synth import SynthSpec, render

    spec = SynthSpec(classes=2, per_class=6, size=96, seed=21)
    data, scored = tmp_path / "data", tmp_path / "scored"
    items = []
    for c, name in enumerate(("disc", "square")):
        (data / name).mkdir(parents=True)
        (scored / name).mkdir(parents=True)
        for i in range(4):
            render(c, i, spec)[0].save(data / name / f"{i}.png")
            items.append((f"{name}/{i}.png", c))
        render(c, 5, spec)[0].save(scored / name / "other.png")
    EDITS["flip"](Image.open(data / "disc" / "2.png").convert("RGB")).save(scored / "disc" / "copy.png")
    run = tmp_path / "run"
    DatasetSplit(str(data), "imagefolder", ["disc", "square"], items, [], []).save(run / "split.json")
    ckpt = save_checkpoint(run / "small_cnn" / "best.pt", build_model("small_cnn", 2),
                           make_meta("small_cnn", ["disc", "square"], input_size=32))
    return data, ckpt, scored


@pytest.mark.slow
def test_the_run_is_found_from_the_checkpoint_and_copies_are_counted(tmp_path):
    data, ckpt, scored = _run(tmp_path)
    assert run_split_of(ckpt) == (tmp_path / "run" / "split.json").resolve()
    assert run_split_of(tmp_path / "elsewhere.pt") is None
    entry = ModelEntry("small_cnn", None, {"arch": "small_cnn"}, str(ckpt))
    images = sorted(scored.rglob("*.png")) + [data / "square" / "1.png"]  # and one training picture itself
    [result] = near_duplicates_in_training([entry], images, "random:resnet50", device="cpu")
    assert result["images"] == 4 and result["near_duplicates"] == 2 and result["in_training_split"] == 1
    assert {Path(e["image"]).name for e in result["examples"]} == {"copy.png", "1.png"}
    assert result["fingerprint_version"] == 1 and result["hash_key"].startswith("v1-")
    assert statement(result).startswith("2 of 4 scored images have a near-duplicate in the training split of run")
    # a hash model that cannot be loaded is named, and nothing else breaks
    [bad] = near_duplicates_in_training([entry], images, str(tmp_path / "nope.pt"))
    assert "nope.pt" in bad["skipped"] and "not checked" in statement(bad)


@pytest.mark.slow
def test_cli_states_the_count_and_writes_it_into_the_report(tmp_path, capsys):
    _, ckpt, scored = _run(tmp_path)
    out = tmp_path / "report"
    rc = evaluate_main([str(scored), "-c", str(ckpt), "--hash-model", "random:resnet50", "--steps", "2", *FAST,
                        "--resamples", "20", "--device", "cpu", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "1 of 3 scored images have a near-duplicate in the training split of run" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["near_duplicates"][0]["near_duplicates"] == 1
    assert "## Near-duplicates of training images" in (out / "report.md").read_text()
