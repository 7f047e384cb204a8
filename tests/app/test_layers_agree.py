"""Facts written once: where the app and the engine must agree, the app uses the engine's code."""

from __future__ import annotations

import numpy as np
import torch

from gcam_desktop.app.common.compositing import difference, normalise
from gcam_desktop.app.compare.explanation_controller import TOP_FRACTION, agreement
from gcam_desktop.app.common.settings import DEFAULTS
from gcam_desktop.explain.metrics import top_region_iou
from gcam_desktop.explain.overlay import normalize_maps, resize_map
from training.config import TrainConfig


def test_the_panels_scale_maps_as_the_engine_does():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(7, 9)).astype(np.float32)
    assert np.array_equal(normalise(m, -0.5, 1.5), normalize_maps(m, "fixed", vmin=-0.5, vmax=1.5))
    flat = np.full((4, 4), 0.3, np.float32)          # no range: all zeros, not NaN
    assert np.array_equal(normalise(flat, 0.3, 0.3), np.zeros_like(flat))


def test_the_difference_panel_resizes_as_the_engine_does():
    rng = np.random.default_rng(1)
    a, b = rng.random((32, 48), dtype=np.float32), rng.random((7, 7), dtype=np.float32)
    assert np.array_equal(difference(a, b), a - resize_map(b, a.shape))


def test_the_agreement_label_is_the_engines_top_region_iou_ties_included():
    # Maps with many equal values: the top 20 % is decided by the tie-break.
    a = np.zeros((10, 10), np.float32)
    a[:5] = 1.0
    b = np.zeros((10, 10), np.float32)
    b[:, :5] = 1.0
    c = np.kron(np.eye(2, dtype=np.float32), np.ones((3, 3), np.float32))   # 6 x 6, resized up
    for x, y in ((a, b), (a, a), (b, c)):
        want = float(top_region_iou(torch.from_numpy(x)[None], torch.from_numpy(y)[None], fraction=TOP_FRACTION)[0])
        assert agreement(x, y) == want


def test_the_training_defaults_are_the_trainers():
    recipe, form = TrainConfig(), DEFAULTS["training"]
    assert (form["epochs"], form["batch_size"], form["lr"], form["input_size"]) == (
        recipe.epochs, recipe.batch_size, recipe.lr, recipe.input_size)
