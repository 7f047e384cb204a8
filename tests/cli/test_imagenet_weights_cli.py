"""gcam-explain and gcam-evaluate with imagenet:ARCH weights: ImageNet class names reach
predictions.csv and the report; uncached and unreachable is one clear line, no traceback; and
Ctrl+C or SIGTERM during a download (gcam-train --init too) is one line and leaves no partial file."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gcam_desktop.cli import evaluate as evaluate_cli
from gcam_desktop.cli import explain as explain_cli
from gcam_desktop.models import build_model, make_meta, save_checkpoint
from gcam_desktop.paths import photos_dir


@pytest.fixture
def cached_resnet50():
    from gcam_desktop.models.pretrained import source

    torch.manual_seed(0)
    path = source("resnet50").cache_path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_model("resnet50", 1000).state_dict(), path)
    return path


@pytest.fixture
def imagenet_names():
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def test_the_sample_photos_are_shipped_with_their_licences():
    photos = sorted(p.relative_to(photos_dir()).as_posix() for p in photos_dir().rglob("*.*") if p.suffix != ".md")
    assert photos == ["espresso/coffee.png", "missile/rocket.jpg", "tabby/chelsea.png"]
    text = (photos_dir() / "LICENSES.md").read_text(encoding="utf-8")
    assert all(name.split("/")[1] in text for name in photos) and "CC0" in text and "public domain" in text


@pytest.mark.slow
def test_explain_with_imagenet_weights_beside_a_small_model(cached_resnet50, imagenet_names, tmp_path, capsys):
    small = tmp_path / "shapes.pt"
    save_checkpoint(small, build_model("small_cnn", 3), make_meta("small_cnn", ["disc", "ring", "star"], input_size=32))
    out = tmp_path / "out"
    code = explain_cli.main(["--weights", "imagenet:resnet50", str(small), "--out", str(out), "--no-progress",
                             str(photos_dir())])
    err = capsys.readouterr().err
    assert code == 0, err
    rows = list(csv.DictReader((out / "predictions.csv").open(encoding="utf-8")))
    imagenet = [r for r in rows if r["model"] == "imagenet_resnet50"]
    shapes = [r for r in rows if r["model"] == "shapes"]
    assert len({r["file"] for r in imagenet}) == 3 and len(imagenet) == 3 * 5  # top 5 per photo
    assert all(r["class"] == imagenet_names[int(r["class_index"])] for r in imagenet)
    assert {r["class"] for r in shapes} <= {"disc", "ring", "star"}
    assert len(list((out / "imagenet_resnet50").rglob("*.png"))) == 3


def test_explain_offline_and_uncached_is_one_clear_line(tmp_path, capsys):
    code = explain_cli.main(["--weights", "imagenet:se_resnet50", "--out", str(tmp_path / "o"), "--no-progress",
                             str(photos_dir())])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith("error: imagenet:se_resnet50"))
    assert "model.safetensors" in line and "put the file at" in line and "nor an architecture" not in line


@pytest.mark.slow
def test_evaluate_takes_imagenet_weights_and_compares_maps_by_class_name(cached_resnet50, tmp_path, capsys):
    same = tmp_path / "same.pt"  # knows the photos' classes, in another order
    save_checkpoint(same, build_model("small_cnn", 3), make_meta("small_cnn", ["missile", "tabby", "espresso"], 32))
    shapes = tmp_path / "shapes.pt"  # knows none of them
    save_checkpoint(shapes, build_model("small_cnn", 3), make_meta("small_cnn", ["disc", "ring", "star"], 32))
    out = tmp_path / "eval"
    code = evaluate_cli.main([str(photos_dir()), "--checkpoint", "imagenet:resnet50", str(same), str(shapes),
                              "--steps", "2", "--resamples", "20", "--device", "cpu", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "tabby" in json.dumps(report)  # the folder names are ImageNet classes it knows
    iou = {tuple(a["models"]): a["top20_iou"]["gradcam"]["n"] for a in report["agreement"]}
    names = [m["name"] for m in report["models"]]
    assert names == ["imagenet_resnet50", "same", "shapes"]  # as gcam-explain names them (names.model_names)
    # maps are compared only where both explain the same class name (here: the true class)
    assert iou[("imagenet_resnet50", "same")] == 3 and iou[("imagenet_resnet50", "shapes")] == 0
    assert iou[("same", "shapes")] == 0


@pytest.mark.slow
def test_one_class_by_name_across_models_of_different_class_sets(cached_resnet50, tmp_path):
    from gcam_desktop.batch.explain_files import explain_paths
    from gcam_desktop.models import load_checkpoint

    small = tmp_path / "pets.pt"  # knows tabby, at another index than ImageNet's 281
    save_checkpoint(small, build_model("small_cnn", 2), make_meta("small_cnn", ["dog", "tabby"], input_size=32))
    shapes = tmp_path / "shapes.pt"
    save_checkpoint(shapes, build_model("small_cnn", 2), make_meta("small_cnn", ["disc", "ring"], input_size=32))
    specs = [(name, *load_checkpoint(ref)) for name, ref in
             (("imagenet", "imagenet:resnet50"), ("pets", small), ("shapes", shapes))]
    failures = []
    report = explain_paths([photos_dir() / "tabby"], specs, tmp_path / "out", target="tabby",
                           on_error=lambda what, why: failures.append((what, why)))
    assert failures == [("shapes", "has no class \u201ctabby\u201d among its 2 classes: its predictions only, no map")]
    rows = list(csv.DictReader((report.predictions_csv).open(encoding="utf-8")))
    explained = {r["model"]: r for r in rows if r["overlay"]}
    assert explained["imagenet"]["class"] == "tabby" and explained["imagenet"]["class_index"] == "281"
    assert explained["pets"]["class"] == "tabby" and explained["pets"]["class_index"] == "1"
    # the model without the class: its own predictions (as the app's panel shows them), no map
    shapes = [r for r in rows if r["model"] == "shapes"]
    assert shapes and {r["class"] for r in shapes} == {"disc", "ring"}
    assert all(not r["overlay"] and not r["raw"] for r in shapes)
    assert not (tmp_path / "out" / "shapes").exists()


# ------------------------------------------------------------------ signals during a download

ROOT = Path(__file__).resolve().parents[2]
PARTIAL = (".tmp", ".incomplete")


def _partials() -> list[str]:
    caches = [Path(os.environ["TORCH_HOME"]), Path(os.environ["HF_HOME"])]
    return [p.name for c in caches if c.is_dir() for p in c.rglob("*") if p.suffix in PARTIAL]


def _serve_slowly(server, arch: str) -> tuple[str, str]:
    """20 MB at 64 KiB per 0.5 s: minutes of download, never a stall, for the signal to land in.
    Returns the environment setting that points `arch`'s source at it."""
    body = os.urandom(20 << 20)
    if arch == "resnet50":
        name = f"resnet50-{hashlib.sha256(body).hexdigest()[:8]}.pth"
        return "GCAM_DESKTOP_RESNET50_URL", server.add(f"/models/{name}", body, chunk_delay=0.5)
    from weights_server import hub_headers

    base = "/timm/seresnet50.a1_in1k/resolve/main"
    config = json.dumps({"pretrained_cfg": {"input_size": [3, 224, 224]}}).encode()
    server.add(f"{base}/config.json", config, headers=hub_headers(config))
    server.add(f"{base}/model.safetensors", body, headers=hub_headers(body), chunk_delay=0.5)
    return "GCAM_DESKTOP_HF_ENDPOINT", server.url


def _command(cli: str, ref: str, tmp_path: Path) -> list[str]:
    if cli == "gcam-explain":
        return ["gcam_desktop.cli.explain", "--weights", ref, "--out", str(tmp_path / "out"), "--no-progress",
                str(photos_dir())]
    if cli == "gcam-evaluate":
        return ["gcam_desktop.cli.evaluate", str(photos_dir()), "--checkpoint", ref, "--device", "cpu",
                "-o", str(tmp_path / "out")]
    from training.synth import make_synthetic

    make_synthetic(tmp_path / "data", classes=2, per_class=4, size=32, seed=1)
    return ["training", "--data", str(tmp_path / "data"), "--arch", "resnet50", "--init", ref,
            "--input-size", "32", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "run")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cli, ref, sig", [
    ("gcam-explain", "imagenet:resnet50", signal.SIGINT),
    ("gcam-explain", "imagenet:resnet50", signal.SIGTERM),
    ("gcam-evaluate", "imagenet:se_resnet50", signal.SIGINT),
    ("gcam-train", "imagenet:resnet50", signal.SIGTERM),
])
@pytest.mark.slow
def test_a_signal_during_a_download_is_one_line_and_leaves_nothing(weights_server, tmp_path, monkeypatch,
                                                                   cli, ref, sig):
    monkeypatch.setenv(*_serve_slowly(weights_server, ref.split(":")[1]))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", *_command(cli, ref, tmp_path)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not _partials():  # the download has begun: its partial file is there
            assert proc.poll() is None, f"{cli} ended before its download began: {proc.communicate()[1][-2000:]}"
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err and lines, err[-2000:]
    said = [line for line in lines if f"download interrupted ({sig.name})" in line]
    assert len(said) == 1 and said[0] == lines[-1] and ref in said[0] and "nothing was kept" in said[0], err
    assert _partials() == []
