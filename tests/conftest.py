"""Suite-wide isolation: no test touches the real per-user data folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GCAM_DESKTOP_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))


# ------------------------------------------------------------------ one corpus of bad input
# Built once per session and reused by every entry point's tests (loader, checkpoints,
# gcam-explain, gcam-evaluate, gcam-train): a class of problem is tested wherever it can arrive.

def _jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose header claims width x height (a decompression bomb's shape)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 200)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):  # walk the markers to the frame header (SOF)
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 7] = height.to_bytes(2, "big")
    data[i + 7:i + 9] = width.to_bytes(2, "big")
    return bytes(data)


class _NotData:
    """Pickling this puts a call to print() into the file: a checkpoint that wants to run code."""

    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory):
    """{name: path} of broken inputs: images, checkpoints and paths that are not what they claim."""
    import io
    import os
    import pickle

    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("bad-files")
    f = {}

    def put(name, data):
        (root / name).write_bytes(data)
        f[name] = root / name

    put("empty.png", b"")
    put("text.png", b"just some notes, no pixels\n")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg")):
        buf = io.BytesIO()
        noise.save(buf, fmt)
        put(f"truncated.{ext}", buf.getvalue()[:300])
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")
    put("bomb.png", buf.getvalue())  # a few kB, 144 MP once decoded
    put("bomb.jpg", _jpeg_claiming(40000, 40000))  # 1.6 GP claimed by ~1 kB
    (root / "folder.png").mkdir()
    f["folder.png"] = root / "folder.png"
    os.symlink(root / "loop.png", root / "loop.png")  # a link to itself: ELOOP
    f["loop.png"] = root / "loop.png"
    os.symlink(root / "gone.png", root / "dangling.png")
    f["dangling.png"] = root / "dangling.png"
    os.symlink(root / "loopdir", root / "loopdir")
    f["loopdir"] = root / "loopdir"

    put("empty.pt", b"")
    put("page.pt", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body></body></html>\n")
    put("random.pt", np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    put("text.pt", b"hello, I am a text file\n")
    put("code.pt", pickle.dumps({"weights": [0.0], "payload": _NotData()}, protocol=2))
    return f


@pytest.fixture(scope="session")
def big_photo(tmp_path_factory):
    """A real 12000 x 9000 (108 MP) camera-sized JPEG: must open, reduced, and fast."""
    from PIL import Image

    path = tmp_path_factory.mktemp("big-photo") / "camera.jpg"
    small = Image.radial_gradient("L").resize((1200, 900)).convert("RGB")
    small.resize((12000, 9000), Image.BILINEAR).save(path, quality=85)
    return path


@pytest.fixture(autouse=True)
def _no_weight_downloads(tmp_path_factory, monkeypatch):
    """Empty torch-hub and Hugging Face caches, and download addresses on a closed local port,
    so a test that asks for imagenet:... weights it did not put in place fails without the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # No hash in the name: the tests' stand-in weights put there are not torchvision's file, and a
    # name with a hash (resnet50-11ad3fa6.pth) is refused unless its content starts that SHA-256.
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", "http://127.0.0.1:9/models/resnet50-stand-in.pth")
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture
def weights_server():
    from weights_server import WeightsServer

    server = WeightsServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def r50_bytes():
    """A seeded ImageNet-shaped (1000-class) ResNet50 state dict as torch.save bytes: what the
    weight caches and the local download server hold in place of the real file."""
    import io

    import torch

    from gcam_desktop.models import build_model

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(build_model("resnet50", 1000).state_dict(), buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def lying_checkpoints(tmp_path_factory):
    """(refused cases by name, honest float64 / float16 / bfloat16 files by name): checkpoints
    whose metadata or tensors lie, from tests/corpus/checkpoints.py."""
    from corpus.checkpoints import build

    return build(tmp_path_factory.mktemp("lying-checkpoints"))
