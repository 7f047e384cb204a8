"""Facts written once: where the app and the engine must agree, the app uses the engine's code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcam_desktop.app.common.compositing import difference, normalise
from gcam_desktop.app.compare.explanation_controller import agreement
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


def test_the_agreement_label_is_the_iou_of_the_top_20_percent():
    """Against values worked out by hand (not the app's own fraction constant): 100 distinct
    values, so the top 20 % are exactly the 20 largest."""
    a = np.arange(100, dtype=np.float32).reshape(10, 10)   # top 20 %: rows 8 and 9
    # The same region: IoU 1. Rows 8-9 against columns 8-9: 4 shared of 36 pixels.
    assert agreement(a, a) == 1.0
    assert agreement(a, a.T) == pytest.approx(4 / 36)
    # Top rows 7-8 against 8-9: row 8 shared, 10 of 30 pixels.
    b = np.roll(a, -1, axis=0)
    assert agreement(a, b) == pytest.approx(10 / 30)
    # Rows 0-1 against 8-9: nothing shared.
    assert agreement(a, a[::-1].copy()) == 0.0


def test_the_agreement_label_breaks_ties_as_the_engine_does():
    # Maps with many equal values: the top 20 % is decided by the tie-break.
    a = np.zeros((10, 10), np.float32)
    a[:5] = 1.0
    b = np.zeros((10, 10), np.float32)
    b[:, :5] = 1.0
    c = np.kron(np.eye(2, dtype=np.float32), np.ones((3, 3), np.float32))   # 6 x 6, resized up
    for x, y in ((a, b), (a, a), (b, c)):
        want = float(top_region_iou(torch.from_numpy(x)[None], torch.from_numpy(y)[None], fraction=0.2)[0])
        assert agreement(x, y) == want


def test_the_training_defaults_are_the_trainers():
    recipe, form = TrainConfig(), DEFAULTS["training"]
    assert (form["epochs"], form["batch_size"], form["lr"], form["input_size"]) == (
        recipe.epochs, recipe.batch_size, recipe.lr, recipe.input_size)
