"""What needs a CUDA GPU: `make gpu-check` runs these on a machine with one (the ordinary
suite deselects them: pyproject's `-m "not cuda"`). Qt-free, so they run with any Python that
has torch, e.g. the device machine's python3, with the project on PYTHONPATH.

GCAM_GPU_CHECK_DEVICE=cpu runs the checks' own logic without a GPU (AMP and NCCL excepted)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from trainer_helpers import parse_events, run_trainer  # noqa: E402

from gcam_desktop.explain import explain  # noqa: E402
from gcam_desktop.models import ARCHS, build_model, load_checkpoint, make_meta, save_checkpoint  # noqa: E402
from training import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.cuda
DEVICE = os.environ.get("GCAM_GPU_CHECK_DEVICE", "cuda")
ON_CUDA = DEVICE.startswith("cuda")


@pytest.fixture(scope="module", autouse=True)
def _needs_the_device():
    if ON_CUDA and not torch.cuda.is_available():
        pytest.fail("these checks need CUDA, and torch.cuda.is_available() is False here; "
                    "GCAM_GPU_CHECK_DEVICE=cpu tries them without a GPU")


@pytest.fixture(scope="module")
def synth_set_64px(tmp_path_factory) -> Path:
    from training.synth import make_synthetic

    out = tmp_path_factory.mktemp("tiny-synth")
    make_synthetic(out, classes=3, per_class=12, size=64, seed=3)
    return out


@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "small_cnn"])
@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam", "saliency"])
def test_maps_on_the_device_match_the_cpu(arch, method):
    torch.manual_seed(0)
    model = build_model(arch, 5).eval()
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    on_cpu = explain(model, x, method)
    on_dev = explain(model.to(DEVICE), x.to(DEVICE), method)
    assert on_dev.maps.device.type == torch.device(DEVICE).type
    assert torch.equal(on_dev.classes.cpu(), on_cpu.classes)
    # cuDNN may use TF32 for float32 convolutions: the normalised maps agree to about 1e-3
    torch.testing.assert_close(on_dev.maps.cpu(), on_cpu.maps, atol=2e-2, rtol=0)


def test_a_checkpoint_loads_onto_the_device(tmp_path):
    path = save_checkpoint(tmp_path / "se.pt", build_model("se_resnet50", 3), make_meta("se_resnet50", ["a", "b", "c"]))
    model, meta = load_checkpoint(path, map_location=DEVICE)
    assert {p.device.type for p in model.parameters()} == {torch.device(DEVICE).type}
    assert meta["arch"] == "se_resnet50"
    ex = explain(model, torch.rand(1, 3, 128, 128, device=DEVICE), "gradcam", gates=True)
    assert ex.gates and all(torch.isfinite(g).all() for g in ex.gates.values())


def test_one_training_epoch_with_amp(synth_set_64px, tmp_path):
    cfg = TrainConfig(data=str(synth_set_64px), archs=["se_resnet50"], out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      input_size=64, device=DEVICE, amp=ON_CUDA, val_fraction=0.25, test_fraction=0.0)
    result = train(cfg)
    assert result["status"] == "finished"
    best = result["results"]["se_resnet50"]["best"]
    model, meta = load_checkpoint(best)
    assert meta["recipe"]["amp"] is ON_CUDA
    metrics = [json.loads(x) for x in (tmp_path / "run" / "se_resnet50" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(m["train_loss"])) for m in metrics)


def test_ddp_on_every_gpu_with_sync_bn(synth_set_64px, tmp_path):
    n = torch.cuda.device_count() if ON_CUDA else 2
    if n < 2:
        pytest.skip(f"{n} GPU here: NCCL needs one GPU per process, so DDP needs two")
    r = run_trainer("--nproc-per-node", str(n), "--data", str(synth_set_64px), "--arch", "resnet50", "--epochs", "1",
                    "--batch-size", str(4 * n), "--input-size", "64", "--sync-bn", "--device", DEVICE,
                    "--out", str(tmp_path / "run"), data_dir=tmp_path / "ud", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    events = parse_events(r.stdout)
    started = next(e for e in events if e["event"] == "run_started")
    assert started["world_size"] == n and started["backend"] == ("nccl" if ON_CUDA else "gloo")
    assert [e["event"] for e in events][-1] == "all_finished"


def test_gcam_explain_on_the_device(tmp_path):
    from PIL import Image

    from gcam_desktop.cli import explain as cli

    path = save_checkpoint(tmp_path / "r.pt", build_model("resnet50", 3), make_meta("resnet50", ["a", "b", "c"]))
    Image.new("RGB", (200, 150), (120, 30, 200)).save(tmp_path / "x.png")
    code = cli.main(["--weights", str(path), "--device", DEVICE, "--out", str(tmp_path / "out"), "--no-progress",
                     str(tmp_path / "x.png")])
    assert code == 0 and (tmp_path / "out" / "r" / "x.gradcam.top1.png").is_file()
