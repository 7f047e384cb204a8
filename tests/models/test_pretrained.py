"""imagenet:ARCH weights: found in the cache offline (a hash in the name checked once),
downloaded from 127.0.0.1 with progress, cancel, stall, hash and truncation checks, and a quick
clear error when they cannot be had."""

import hashlib
import json
import os
import threading
import time

import huggingface_hub  # noqa: F401  imported before any test sets HF_HUB_OFFLINE, which it reads once
import pytest
import torch
from safetensors.torch import save_file

from gcam_desktop.models import CheckpointError, build_model, load_checkpoint, read_checkpoint
from gcam_desktop.models import download as D
from gcam_desktop.models import pretrained as P
from gcam_desktop.models.fetch import fetch
from gcam_desktop.models import weights_hash as W

COMMIT = "a" * 40




def _hashed_name(data: bytes) -> str:
    return f"resnet50-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def _no_partials(folder):
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def _hf_snapshot(root, sd, config=None):
    snap = root / "hub" / "models--timm--seresnet50.a1_in1k" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    save_file(sd, str(snap / "model.safetensors"))
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text(COMMIT)
    if config is not None:
        (snap / "config.json").write_text(json.dumps(config))
    return snap


def test_refs_are_recognised_and_unknown_archs_named():
    from pathlib import Path

    from gcam_desktop.models.pretrained_refs import is_pretrained_ref

    assert is_pretrained_ref("imagenet:resnet50") and is_pretrained_ref(Path("imagenet:se_resnet50"))
    assert not is_pretrained_ref("resnet50.pt") and not is_pretrained_ref(None)
    with pytest.raises(CheckpointError, match="choose imagenet:resnet50 or imagenet:se_resnet50"):
        load_checkpoint("imagenet:vgg16")


def _torchvision_named(data: bytes):
    """`data` at the exact place torchvision itself uses: <TORCH_HOME>/hub/checkpoints/resnet50-11ad3fa6.pth."""
    target = P.source("resnet50").cache_path
    assert target == P.Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    return target


@pytest.mark.slow
def test_cached_torchvision_file_loads_offline_with_imagenet_meta(r50_bytes, monkeypatch):
    monkeypatch.delenv("GCAM_DESKTOP_RESNET50_URL")  # torchvision's own URL and file name
    W.remember(_torchvision_named(r50_bytes))  # stands in for the real file, checked on an earlier run
    monkeypatch.setattr(D, "urlopen", lambda *a, **k: pytest.fail("a cached file must not be downloaded"))
    monkeypatch.setattr(W, "sha256_of", lambda p: pytest.fail("a file checked before is not hashed again"))
    model, meta = load_checkpoint("imagenet:resnet50")
    assert meta["arch"] == "resnet50" and meta["num_classes"] == 1000 and len(meta["class_names"]) == 1000
    assert meta["class_names"][:2] == ["tench", "goldfish"] and meta["class_names"][281] == "tabby"
    assert meta["input_size"] == 224 and meta["mean"] == [0.485, 0.456, 0.406] and meta["std"] == [0.229, 0.224, 0.225]
    assert meta["source"].endswith("resnet50-11ad3fa6.pth") and "BSD-3-Clause" in meta["licence"]
    assert meta["default_layer"] == "layer4" and model.default_layer == "layer4"
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_cached_timm_file_loads_strictly_with_its_config(tmp_path, monkeypatch):
    torch.manual_seed(1)
    sd = build_model("se_resnet50", 1000).state_dict()
    cfg = {"pretrained_cfg": {"input_size": [3, 256, 256], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    _hf_snapshot(P.Path(os.environ["HF_HOME"]), sd, cfg)
    from gcam_desktop.models import hub_download

    monkeypatch.setattr(hub_download, "download_hf", lambda *a: pytest.fail("a cached file must not be downloaded"))
    model, meta = load_checkpoint("imagenet:se_resnet50")
    assert meta["arch"] == "se_resnet50" and meta["class_names"][281] == "tabby"
    assert meta["input_size"] == 256 and meta["mean"] == [0.5, 0.5, 0.5] and meta["std"] == [0.25, 0.25, 0.25]
    assert "seresnet50.a1_in1k" in meta["provider"] and "Apache-2.0" in meta["licence"]
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v)


@pytest.mark.slow
def test_a_cached_file_that_is_not_what_its_name_promises_is_named_not_loaded(r50_bytes, monkeypatch):
    """Random weights at resnet50-11ad3fa6.pth are not torchvision's IMAGENET1K_V2."""
    monkeypatch.delenv("GCAM_DESKTOP_RESNET50_URL")
    target = _torchvision_named(r50_bytes)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint("imagenet:resnet50")
    message = str(err.value)
    assert f"{target} is not the file its name promises" in message and "delete it" in message
    assert "\n" not in message and target.read_bytes() == r50_bytes  # named, not deleted behind the user's back


def test_a_good_cached_file_is_hashed_once_and_again_when_it_changes(r50_bytes, monkeypatch):
    name = _hashed_name(r50_bytes)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", f"http://127.0.0.1:9/models/{name}")
    target = P.source("resnet50").cache_path
    target.parent.mkdir(parents=True)
    target.write_bytes(r50_bytes)
    hashed = []
    real = W.sha256_of
    monkeypatch.setattr(W, "sha256_of", lambda p: hashed.append(p) or real(p))
    assert fetch("resnet50") == target and fetch("resnet50") == target
    assert hashed == [target]  # remembered by size and mtime
    target.write_bytes(b"x" + r50_bytes[1:])  # changed in place: checked again, and refused
    with pytest.raises(P.PretrainedError, match="is not the file its name promises"):
        fetch("resnet50")
    assert len(hashed) == 2


def test_a_file_put_in_place_by_hand_is_found(tmp_path, monkeypatch):
    """The path the offline error names is where a hand-downloaded file is looked for."""
    with pytest.raises(P.PretrainedError) as err:
        fetch("se_resnet50")
    named = P.Path(str(err.value).split("put the file at ")[1])
    named.parent.mkdir(parents=True)
    save_file(build_model("se_resnet50", 1000).state_dict(), str(named))
    _, meta = load_checkpoint("imagenet:se_resnet50")
    assert meta["input_size"] == 224 and meta["file"] == str(named)


def test_download_over_http_reports_progress_and_lands_whole(weights_server, r50_bytes, monkeypatch):
    name = _hashed_name(r50_bytes)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", weights_server.add(f"/models/{name}", r50_bytes))
    seen = []
    path = fetch("imagenet:resnet50", progress=lambda done, total: seen.append((done, total)))
    assert path.name == name and path.read_bytes() == r50_bytes
    assert seen[0] == (0, len(r50_bytes)) and seen[-1] == (len(r50_bytes), len(r50_bytes))
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert _no_partials(path.parent) == [name]
    _, meta, _ = read_checkpoint("imagenet:resnet50")  # cached now: no second request
    assert meta["num_classes"] == 1000 and weights_server.routes[f"/models/{name}"].hits == 1


def test_download_from_a_file_url(tmp_path, r50_bytes, monkeypatch):
    src = tmp_path / "mirror" / _hashed_name(r50_bytes)
    src.parent.mkdir()
    src.write_bytes(r50_bytes)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", src.as_uri())
    assert fetch("resnet50", progress=lambda d, t: None).read_bytes() == r50_bytes


@pytest.mark.parametrize("fault", ["corrupt", "truncated"])
def test_a_bad_download_leaves_nothing(weights_server, monkeypatch, fault):
    body = os.urandom(300_000)
    if fault == "corrupt":  # the name promises another hash
        url = weights_server.add("/models/resnet50-00000000.pth", body)
        match = "corrupt: SHA-256"
    else:
        url = weights_server.add(f"/models/{_hashed_name(body)}", body, cut=100_000)
        match = "broke off|truncated"
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", url)
    with pytest.raises(P.PretrainedError, match=match):
        fetch("resnet50", progress=lambda d, t: None)
    folder = P.source("resnet50").cache_path.parent
    assert _no_partials(folder) == []


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><html><body>Sign in to the Wi-Fi</body></html>", "small_cnn"])
def test_wrong_bytes_from_a_url_without_a_hash_are_not_kept(weights_server, monkeypatch, body):
    """No hash in the name to check: the download must at least hold ResNet50 weights to be kept."""
    if body == "small_cnn":
        import io

        buf = io.BytesIO()
        torch.save(build_model("small_cnn", 3).state_dict(), buf)
        body = buf.getvalue()
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", weights_server.add("/models/resnet50.pth", body))
    with pytest.raises(P.PretrainedError, match="is not a weights file|holds small_cnn weights, not resnet50"):
        fetch("resnet50", progress=lambda d, t: None)
    assert _no_partials(P.source("resnet50").cache_path.parent) == []


@pytest.fixture
def small_stall_limits(monkeypatch):
    """A stall is fewer than 2000 bytes in 0.5 s here (the program's own limits are minutes-scale)."""
    monkeypatch.setenv("GCAM_DESKTOP_STALL_BYTES", "2000")
    monkeypatch.setenv("GCAM_DESKTOP_STALL_WINDOW_S", "0.5")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trickle, why", [(0.01, "fewer than 2000 bytes in 0.5 s"), (30, "no data for 0.5 s")])
def test_a_trickling_or_silent_server_is_a_stall_said_in_one_line(weights_server, small_stall_limits, monkeypatch,
                                                                   trickle, why):
    body = os.urandom(300_000)
    url = weights_server.add(f"/models/{_hashed_name(body)}", body, trickle=trickle)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", url)
    with pytest.raises(P.PretrainedError) as err:
        fetch("resnet50", progress=lambda d, t: None)
    message, src = str(err.value), P.source("resnet50")
    assert f"download from {url} stalled after " in message and why in message and "nothing was kept" in message
    assert f"put the file at {src.cache_path}" in message and "\n" not in message
    assert _no_partials(src.cache_path.parent) == []


def test_cancel_stops_the_download_and_keeps_nothing(weights_server, monkeypatch):
    body = os.urandom(1_000_000)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL",
                       weights_server.add(f"/models/{_hashed_name(body)}", body, chunk_delay=0.05))
    cancel = threading.Event()

    def progress(done, total):
        if done >= 200_000:
            cancel.set()

    with pytest.raises(P.DownloadCancelled, match="cancelled"):
        fetch("resnet50", progress=progress, cancel=cancel)
    assert _no_partials(P.source("resnet50").cache_path.parent) == []


@pytest.mark.parametrize("ref", ["imagenet:resnet50", "imagenet:se_resnet50"])
def test_unreachable_and_uncached_fails_fast_naming_url_and_path(ref):
    """conftest points both sources at a closed port on 127.0.0.1."""
    start = time.monotonic()
    with pytest.raises(P.PretrainedError) as err:
        load_checkpoint(ref)
    assert time.monotonic() - start < 5
    message = str(err.value)
    src = P.source(P.parse_ref(ref))
    assert message.startswith(f"{ref}: not in the cache and cannot be downloaded")
    assert src.url in message and str(src.cache_path) in message and "\n" not in message


def test_hf_offline_setting_is_respected_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(P.PretrainedError, match="HF_HUB_OFFLINE is set"):
        fetch("se_resnet50")


def _serve_hub(server, weights: bytes, etag=None):
    base = "/timm/seresnet50.a1_in1k/resolve/main"
    config = json.dumps({"pretrained_cfg": {"input_size": [3, 240, 240]}}).encode()
    server.add(f"{base}/config.json", config, headers=hub_headers(config))
    server.add(f"{base}/model.safetensors", weights, headers=hub_headers(weights, etag), chunk_delay=0.001)


def _st_bytes(tmp_path):
    torch.manual_seed(2)
    path = tmp_path / "w.safetensors"
    save_file(build_model("se_resnet50", 1000).state_dict(), str(path))
    return path.read_bytes()


@pytest.mark.slow
def test_timm_weights_download_through_huggingface_hub(weights_server, tmp_path, monkeypatch):
    data = _st_bytes(tmp_path)
    _serve_hub(weights_server, data)
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", weights_server.url)
    seen = []
    path = fetch("se_resnet50", progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == data and seen[-1] == (len(data), len(data))
    assert path.parent.name == hub_headers(data)["X-Repo-Commit"]  # huggingface_hub's layout
    _, meta = load_checkpoint("imagenet:se_resnet50")
    assert meta["input_size"] == 240  # from the downloaded config.json


@pytest.mark.slow
def test_timm_download_with_a_wrong_hash_is_removed(weights_server, tmp_path, monkeypatch):
    _serve_hub(weights_server, _st_bytes(tmp_path), etag="b" * 64)
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", weights_server.url)
    with pytest.raises(P.PretrainedError, match="corrupt"):
        fetch("se_resnet50", progress=lambda d, t: None)
    assert P.find_cached("se_resnet50") is None


@pytest.mark.slow
def test_timm_download_can_be_cancelled(weights_server, tmp_path, monkeypatch):
    _serve_hub(weights_server, _st_bytes(tmp_path))
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", weights_server.url)
    cancel = threading.Event()
    with pytest.raises(P.DownloadCancelled):
        fetch("se_resnet50", progress=lambda done, total: cancel.set() if done > 100_000 else None, cancel=cancel)
    assert P.find_cached("se_resnet50") is None


def _hub_leftovers():
    root = P.hf_cache_dir()
    return [p.name for p in root.rglob("*") if p.suffix in (".incomplete", ".tmp")] if root.is_dir() else []


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("trickle, why", [(0.01, "fewer than 2000 bytes in 0.5 s"), (30, "no data for 0.5 s")])
def test_a_stalled_timm_download_ends_in_one_line_without_retries(weights_server, tmp_path, small_stall_limits,
                                                                  monkeypatch, capfd, trickle, why):
    data = _st_bytes(tmp_path)
    _serve_hub(weights_server, data)
    weights_server.routes["/timm/seresnet50.a1_in1k/resolve/main/model.safetensors"].trickle = trickle
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", weights_server.url)
    with pytest.raises(P.PretrainedError) as err:
        fetch("se_resnet50", progress=lambda d, t: None)
    message = str(err.value)
    assert "model.safetensors stalled after " in message and why in message and "\n" not in message
    assert "resume" not in capfd.readouterr().err  # huggingface_hub's retries neither run nor talk
    assert weights_server.routes["/timm/seresnet50.a1_in1k/resolve/main/model.safetensors"].hits == 1
    assert P.find_cached("se_resnet50") is None and _hub_leftovers() == []


@pytest.mark.slow
def test_default_layer_has_at_least_seven_cells():
    from gcam_desktop.models import default_layer_for

    assert default_layer_for("resnet50", 224) == "layer4"
    assert default_layer_for("s_se_resnet50", 128) == "layer3"
    assert default_layer_for("se_resnet50", 64) == "layer2"
    model = build_model("resnet50", 3).eval()
    for size in (64, 128, 224):
        feats = {}
        layer = default_layer_for("resnet50", size)
        model.get_submodule(layer).register_forward_hook(lambda m, i, o: feats.setdefault("x", o))
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        assert feats["x"].shape[-1] >= 7
        model = build_model("resnet50", 3).eval()


from weights_server import hub_headers  # noqa: E402  (tests/ is on sys.path through conftest)
