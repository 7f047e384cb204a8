"""The workers' models carry what the explanation code reads from a model: its default layer and
its input normalisation (DeepLIFT's black reference, occlusion's fill), also where the worker
builds the model from metadata instead of loading a checkpoint file."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _meta(arch: str, size: int):
    from gcam_desktop.models import make_meta

    meta = make_meta(arch, ["a", "b"], input_size=size)
    meta["mean"], meta["std"] = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    return meta


def test_the_quality_workers_copy_of_an_in_memory_model():
    from gcam_desktop.app.quality.sources import QualityModel
    from gcam_desktop.app.quality.worker import QualityWorker
    from gcam_desktop.models import build_model

    worker = QualityWorker("cpu")
    assert worker.setup()
    meta = _meta("small_cnn", 32)
    entry = worker._copy(QualityModel("m", meta, None, build_model("small_cnn", 2)))
    assert entry.model.input_normalization == ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    assert entry.model.default_layer == meta["default_layer"]


def test_the_inference_workers_untrained_model():
    from gcam_desktop.app.inference.worker import InferenceWorker
    from gcam_desktop.models import IMAGENET_MEAN, IMAGENET_STD, default_layer_for

    worker = InferenceWorker("cpu")
    assert worker.setup()
    worker.build_model("left", "resnet50", ["a", "b"], input_size=64)
    model = worker.models["left"].model
    assert model.input_normalization == (tuple(IMAGENET_MEAN), tuple(IMAGENET_STD))
    assert model.default_layer == default_layer_for("resnet50", 64) == "layer2"
    assert worker.models["left"].info.default_layer == "layer2"


def test_an_engine_that_fails_to_import_says_failed(monkeypatch):
    """The methods' modules load last (the engine imports Zennit, and Zennit torchvision): when
    that fails the worker says "failed" (the self-test then exits) instead of never saying ready."""
    import sys

    from gcam_desktop.app.inference.worker import InferenceWorker

    monkeypatch.setitem(sys.modules, "gcam_desktop.explain.engine", None)  # its import now raises
    worker = InferenceWorker("cpu")
    states, ready = [], []
    worker.engine_state.connect(lambda state, detail: states.append((state, detail)))
    worker.engine_ready.connect(ready.append)
    assert worker.setup() is False
    assert states[-1][0] == "failed"
    assert "could not load the engine" in states[-1][1] and "gcam_desktop.explain.engine" in states[-1][1]
    assert not ready
