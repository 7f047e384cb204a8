"""Suite-wide isolation: no test touches the real per-user data folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GCAM_DESKTOP_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))


@pytest.fixture(autouse=True)
def _no_weight_downloads(tmp_path_factory, monkeypatch):
    """Empty torch-hub and Hugging Face caches, and download addresses on a closed local port,
    so a test that asks for imagenet:... weights it did not put in place fails without the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", "http://127.0.0.1:9/models/resnet50-11ad3fa6.pth")
    monkeypatch.setenv("GCAM_DESKTOP_HF_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture
def weights_server():
    from weights_server import WeightsServer

    server = WeightsServer()
    yield server
    server.close()
