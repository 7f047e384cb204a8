"""gcam-train --init imagenet:resnet50: every variant starts from the ImageNet ResNet50 backbone
(SE-ResNet50 from timm's ImageNet SE-ResNet50 when that is cached), with a new head; the
fine-tuning recipe is a preset, the paper's recipe stays the default."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from trainer_helpers import SMALL, parse_events, run_trainer

COMMIT = "c" * 40


@pytest.fixture
def cached_resnet50():
    """Our own ResNet50 state dict where torchvision keeps IMAGENET1K_V2."""
    from gcam_desktop.models import build_model
    from gcam_desktop.models.pretrained import source

    torch.manual_seed(5)
    sd = build_model("resnet50", 1000).state_dict()
    path = source("resnet50").cache_path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd


def _cache_timm(sd):
    from gcam_desktop.models.pretrained import hf_cache_dir

    snap = hf_cache_dir() / "models--timm--seresnet50.a1_in1k" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    save_file(sd, str(snap / "model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet50", "se_resnet50", "s_se_resnet50"])
def test_every_variant_gets_the_imagenet_backbone_and_a_new_head(cached_resnet50, arch):
    from gcam_desktop.models import build_model
    from training.checkpoints import init_from, init_source

    model = build_model(arch, 4)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    summary = init_from(model, init_source(arch, "imagenet:resnet50"))
    own = model.state_dict()
    backbone = [k for k in cached_resnet50 if not k.startswith("fc.")]
    assert all(torch.equal(own[k], cached_resnet50[k]) for k in backbone)
    assert own["fc.weight"].shape == (4, 2048) and torch.equal(own["fc.weight"], fresh["fc.weight"])
    gates = [k for k in own if ".se." in k or k.split(".")[1:2] == ["se"]]
    assert (len(gates) > 0) == (arch != "resnet50")
    assert all(torch.equal(own[k], fresh[k]) for k in gates)  # no timm file cached: fresh gates
    assert summary.startswith(f"initialised {len(backbone)}/") and "imagenet:resnet50" in summary


@pytest.mark.slow
def test_se_resnet50_takes_timms_se_gates_when_cached(cached_resnet50):
    from gcam_desktop.models import build_model
    from training.checkpoints import init_from, init_source

    torch.manual_seed(6)
    timm_sd = build_model("se_resnet50", 1000).state_dict()
    _cache_timm(timm_sd)
    assert init_source("se_resnet50", "imagenet:resnet50") == "imagenet:se_resnet50"
    assert init_source("s_se_resnet50", "imagenet:resnet50") == "imagenet:resnet50"
    model = build_model("se_resnet50", 4)
    init_from(model, init_source("se_resnet50", "imagenet:resnet50"))
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in timm_sd.items() if not k.startswith("fc."))


@pytest.mark.slow
def test_gcam_train_fine_tunes_all_three_from_imagenet(cached_resnet50, synth_set_3cls, tmp_path):
    out = tmp_path / "run"
    r = run_trainer("--data", str(synth_set_3cls), "--arch", "resnet50", "se_resnet50", "s_se_resnet50",
                    "--init", "imagenet:resnet50", "--recipe", "finetune", *SMALL, "--epochs", "1",
                    "--out", str(out), data_dir=tmp_path / "user", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    events = parse_events(r.stdout)
    assert [e["arch"] for e in events if e["event"] == "finished"] == ["resnet50", "se_resnet50", "s_se_resnet50"]
    assert r.stderr.count("initialised 318/") >= 1 and "fresh SE gates" in r.stderr
    saved = json.loads((out / "config.json").read_text())["config"]
    # the finetune preset, with the options given on the command line on top
    assert saved["optimizer"] == "adamw" and saved["weight_decay"] == 0.05 and saved["lr"] == 3e-4
    assert saved["input_size"] == 32 and saved["epochs"] == 1 and saved["init"] == {"*": "imagenet:resnet50"}


def test_paper_recipe_stays_the_default():
    from training.cli import _config_from, train_parser
    from training.config import TrainConfig

    args = train_parser().parse_args(["--data", "x", "--init", "imagenet:resnet50"])
    cfg = _config_from(args)
    paper = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.epochs, cfg.input_size) == (paper.optimizer, paper.lr, paper.epochs, 128)
    assert cfg.init == {"*": "imagenet:resnet50"}


@pytest.mark.slow
def test_init_from_unavailable_imagenet_weights_is_a_clear_error(synth_set_3cls, tmp_path):
    r = run_trainer("--data", str(synth_set_3cls), "--arch", "resnet50", "--init", "imagenet:resnet50", *SMALL,
                    "--epochs", "1", "--out", str(tmp_path / "run"), data_dir=tmp_path / "user", timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    error = [e for e in parse_events(r.stdout) if e["event"] == "error"][0]["message"]
    assert error.startswith("imagenet:resnet50: not in the cache") and "put the file at" in error
