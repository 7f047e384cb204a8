"""The demo command's plumbing (on a tiny preset), --init, devices, and the demo preset itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer_helpers import run_trainer
from training import TrainConfig, train
from training.events import check_event

TINY_SYNTH = {"classes": 3, "per_class": 8, "size": 32, "seed": 0}
TINY_RECIPE = {"epochs": 2, "batch_size": 8, "input_size": 32, "val_fraction": 0.25, "test_fraction": 0.0,
               "seed": 0, "scheduler": "onecycle", "lr": 2e-3}


def test_demo_installs_checkpoints_where_the_app_looks_and_reruns_without_training(tmp_path):
    from gcam_desktop.models import load_checkpoint
    from gcam_desktop.paths import demo_checkpoint, demo_dir
    from training.demo import run_demo

    events = []
    result = run_demo(on_event=events.append, archs=("small_cnn",), synth=TINY_SYNTH, recipe=TINY_RECIPE)
    assert result["status"] == "finished"
    assert all(check_event(e) == [] for e in events)
    assert (demo_dir() / "synth" / "masks").is_dir()
    target = demo_checkpoint("small_cnn")
    model, meta = load_checkpoint(target, expect_arch="small_cnn")
    assert meta["class_names"] == ["disc", "square", "triangle"] and meta["input_size"] == 32
    assert target.read_bytes() == (demo_dir() / "run" / "small_cnn" / "best.pt").read_bytes()

    target.unlink()
    again = []
    run_demo(on_event=again.append, archs=("small_cnn",), synth=TINY_SYNTH, recipe=TINY_RECIPE)
    assert [e["event"] for e in again] == ["finished", "all_finished"]  # nothing retrained
    assert target.is_file()  # but the checkpoint is put back


def test_demo_preset_is_valid_and_trains_the_three_variants():
    from gcam_desktop.paths import DEMO_ARCHS
    from training.config import DEMO_SYNTH, DEMO_TRAIN
    from training.demo import demo_config

    cfg = demo_config(Path("synth"), Path("run"))
    cfg.validate()
    assert cfg.archs == list(DEMO_ARCHS) == ["resnet50", "se_resnet50", "s_se_resnet50"]
    assert cfg.input_size == DEMO_SYNTH["size"]  # trained at the images' own size: no resize


def test_demo_help_names_the_preset(tmp_path):
    r = run_trainer("demo", "--help", data_dir=tmp_path, timeout=120)
    assert r.returncode == 0 and "per_class" in r.stdout and "epochs" in r.stdout


@pytest.mark.slow
def test_init_from_torchvision_and_timm_style_state_dicts(tmp_path):
    import torchvision

    from gcam_desktop.models import CheckpointError, build_model
    from training.checkpoints import init_from

    tv = torchvision.models.resnet50(num_classes=1000).state_dict()
    torch.save(tv, tmp_path / "tv.pth")
    model = build_model("resnet50", 3)
    summary = init_from(model, tmp_path / "tv.pth")
    assert torch.equal(model.state_dict()["conv1.weight"], tv["conv1.weight"])
    assert model.fc.out_features == 3 and "fc" in summary  # the 1000-class head is not taken
    se = build_model("se_resnet50", 3)
    assert "se" in init_from(se, tmp_path / "tv.pth")  # the SE gates start fresh
    assert torch.equal(se.state_dict()["layer2.0.conv2.weight"], tv["layer2.0.conv2.weight"])
    import timm  # a test dependency (pyproject's test extra)
    torch.save(timm.create_model("seresnet50", pretrained=False).state_dict(), tmp_path / "timm.pth")
    se = build_model("se_resnet50", 3)
    summary = init_from(se, tmp_path / "timm.pth")
    assert summary.startswith(f"initialised {len(se.state_dict()) - 2}/")  # all but fc.weight / fc.bias
    torch.save(build_model("small_cnn", 3).state_dict(), tmp_path / "small.pth")
    with pytest.raises(CheckpointError, match="small.pth"):
        init_from(build_model("resnet50", 3), tmp_path / "small.pth")


@pytest.mark.slow
def test_fine_tune_from_our_checkpoint_with_other_classes(synth_set_3cls, tmp_path, caplog):
    import logging

    first = train(TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], epochs=1, batch_size=8, input_size=32,
                              out=str(tmp_path / "a"), test_fraction=0.0))
    best = first["results"]["small_cnn"]["best"]
    two = tmp_path / "two"
    for name in ("disc", "ring"):
        (two / name).mkdir(parents=True)
        for p in list((synth_set_3cls / "images" / "disc").glob("*.png"))[:5]:
            (two / name / p.name).write_bytes(p.read_bytes())
    with caplog.at_level(logging.INFO, logger="training"):
        result = train(TrainConfig(data=str(two), archs=["small_cnn"], epochs=1, batch_size=4, input_size=32,
                                   out=str(tmp_path / "b"), test_fraction=0.0, init={"small_cnn": best}))
    assert result["status"] == "finished"
    text = caplog.text
    assert "initialised" in text and "fc3" in text  # 3-class head replaced by a 2-class one
    from gcam_desktop.models import load_checkpoint

    _, meta = load_checkpoint(result["results"]["small_cnn"]["best"])
    assert meta["num_classes"] == 2 and meta["recipe"]["init"] == {"small_cnn": best}


def test_unavailable_device_is_a_clear_error(synth_set_3cls, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # pragma: no cover
    with pytest.raises(ValueError, match="--device"):
        train(TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], device="cuda", out=str(tmp_path / "r")))


@pytest.mark.parametrize("change, message", [({"archs": ["vgg16"]}, "--arch"), ({"epochs": 0}, "--epochs"),
                                             ({"val_fraction": 0.6, "test_fraction": 0.5}, "--val-fraction"),
                                             ({"batch_size": 1}, "--batch-size"),
                                             ({"init": {"resnet50": "x.pt"}}, "--init")])
def test_bad_options_name_the_option(synth_set_3cls, tmp_path, change, message):
    cfg = TrainConfig(data=str(synth_set_3cls), archs=["small_cnn"], out=str(tmp_path / "r"))
    for k, v in change.items():
        setattr(cfg, k, v)
    with pytest.raises(ValueError, match=message):
        train(cfg)
