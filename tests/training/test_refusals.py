"""gcam-train refuses what it cannot do well before it reads an image or makes a folder:
numbers that are not numbers, an unwritable --out, classes too small for validation; and
failed writes end in one line naming the file."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from trainer_helpers import SMALL, parse_events, run_trainer
from training import TrainConfig, train
from training.data import DataError, min_images_for_validation


NUMERIC_REFUSALS = [("--lr", "inf"), ("--lr", "nan"), ("--lr", "-1"), ("--weight-decay", "inf"),
                    ("--weight-decay", "-0.1"), ("--val-fraction", "nan"), ("--test-fraction", "inf"),
                    ("--epochs", "-3"), ("--batch-size", "0"), ("--cache-gb", "-1"), ("--cache-gb", "nan"),
                    ("--workers", "-2"), ("--input-size", "-64")]


@pytest.mark.parametrize("option, value", NUMERIC_REFUSALS)
def test_every_numeric_option_is_refused_in_process(synth_set_3cls, tmp_path, capfd, option, value):
    """The next test's command lines through the CLI's main() in this process (no process each):
    refused up front, as one error event naming the option, and nothing written."""
    from training.cli import main

    out = tmp_path / "run"
    assert main(["--data", str(synth_set_3cls), "--arch", "small_cnn", "--out", str(out), *SMALL, option, value]) == 2
    captured = capfd.readouterr()   # the events go to file descriptor 1 (training/events.py's guard)
    [event] = parse_events(captured.out)
    assert event["event"] == "error" and option in event["message"], event
    assert "JSON" not in event["message"] and "Traceback" not in captured.err and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("option, value", NUMERIC_REFUSALS)
def test_every_numeric_option_is_checked_up_front_and_nothing_is_left_behind(synth_set_3cls, tmp_path, option, value):
    out = tmp_path / "run"
    r = run_trainer("--data", str(synth_set_3cls), "--arch", "small_cnn", "--out", str(out), *SMALL, option, value,
                    data_dir=tmp_path / "user", timeout=300)
    assert r.returncode == 2, r.stderr
    [event] = parse_events(r.stdout)
    assert event["event"] == "error" and option in event["message"], event
    assert "JSON" not in event["message"] and "Traceback" not in r.stderr
    assert not out.exists()


def test_non_finite_numbers_in_the_python_api_name_the_option(synth_set_3cls, tmp_path):
    for field, value in (("lr", math.inf), ("weight_decay", math.nan), ("val_fraction", math.nan)):
        cfg = TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], out=str(tmp_path / "r"))
        setattr(cfg, field, value)
        with pytest.raises(ValueError, match=f"--{field.replace('_', '-')} must be a finite number"):
            train(cfg)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_an_unwritable_out_is_refused_before_any_image_is_read(synth_set_3cls, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    r = run_trainer("--data", str(synth_set_3cls), "--arch", "small_cnn", "--out", str(blocker / "run"), *SMALL,
                    data_dir=tmp_path / "user", timeout=300)
    assert r.returncode == 2
    [event] = parse_events(r.stdout)
    assert event["message"] == f"cannot write {blocker / 'run'}: {blocker} is a file, not a folder"
    assert "checking" not in r.stderr and "Traceback" not in r.stderr


def _small_classes(root, counts):
    from PIL import Image

    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (16, 16), (40 * i % 255, 90, 200)).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_a_class_too_small_for_validation_is_refused_with_the_reason_and_the_minimum(tmp_path):
    data = _small_classes(tmp_path / "ten", {"cat": 5, "dog": 3, "fox": 2})
    need = min_images_for_validation(0.15, 0.15)
    assert need == 3
    cfg = TrainConfig(data=str(data), archs=["small_cnn"], out=str(tmp_path / "r"), input_size=16, batch_size=2,
                      epochs=1)
    with pytest.raises(DataError) as info:
        train(cfg)
    message = str(info.value)
    assert "fox (2)" in message and "cat" not in message and f"at least {need} images" in message
    assert "--allow-unvalidated-classes" in message
    assert not (tmp_path / "r").exists()
    cfg.allow_unvalidated_classes = True  # the user insists: trained, with a warning
    result = train(cfg)
    assert result["status"] == "finished"
    report = json.loads((tmp_path / "r" / "small_cnn" / "report.json").read_text())
    assert 0 <= report["train_accuracy_eval"] <= 1


@pytest.mark.slow
def test_cli_refusal_names_the_option_to_insist(tmp_path):
    data = _small_classes(tmp_path / "few", {"a": 2, "b": 2})
    r = run_trainer("--data", str(data), "--arch", "small_cnn", "--out", str(tmp_path / "r"), "--input-size", "16",
                    "--batch-size", "2", data_dir=tmp_path / "user", timeout=300)
    assert r.returncode == 2
    [event] = parse_events(r.stdout)
    assert "a (2), b (2)" in event["message"] and "--allow-unvalidated-classes" in event["message"]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_train_accuracy_eval_is_what_the_saved_model_does_on_its_training_images(synth_set_3cls, tmp_path):
    import torch

    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.imaging import load_image
    from gcam_desktop.models import load_checkpoint

    cfg = TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], out=str(tmp_path / "r"), input_size=32,
                      batch_size=8, epochs=2, val_fraction=0.2, test_fraction=0.2)
    train(cfg)
    report = json.loads((tmp_path / "r" / "small_cnn" / "report.json").read_text())
    split = json.loads((tmp_path / "r" / "split.json").read_text())
    model, meta = load_checkpoint(tmp_path / "r" / "small_cnn" / "best.pt")
    root = tmp_path / "r"
    items = split["train"]
    images = [load_image(f"{split['root']}/{rel}") for rel, _ in items]
    with torch.no_grad():
        pred = model(preprocess_batch(images, meta)).argmax(1).tolist()
    expected = sum(int(p == y) for p, (_, y) in zip(pred, items)) / len(items)
    assert report["train_accuracy_eval"] == pytest.approx(expected, abs=1.5 / len(items))
    assert root.is_dir()


def test_a_symlink_loop_as_data_is_called_a_loop(bad_files, tmp_path):
    with pytest.raises(DataError, match="symbolic link loop"):
        train(TrainConfig(data=str(bad_files["loopdir"]), archs=["small_cnn"], out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["class_names_null", "mean_string", "inf_convolution"])
def test_an_init_checkpoint_that_lies_is_refused_in_one_error_event(synth_set_3cls, tmp_path, capfd,
                                                                    lying_checkpoints, case):
    """gcam-train's entry point of issue 24's corpus: --init with a checkpoint whose metadata or
    tensors lie ends in one error event naming the file and what is wrong, before any epoch."""
    from training.cli import main

    refused, _ = lying_checkpoints
    out = tmp_path / "run"
    code = main(["--data", str(synth_set_3cls), "--arch", "small_cnn", "--out", str(out), *SMALL,
                 "--init", f"small_cnn={refused[case].path}"])
    captured = capfd.readouterr()
    events = parse_events(captured.out)
    assert code != 0 and events[-1]["event"] == "error", events
    refused[case].assert_refused(events[-1]["message"])
    assert not any(e["event"] == "epoch_end" for e in events) and "Traceback" not in captured.err
