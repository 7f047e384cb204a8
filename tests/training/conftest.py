"""Shared fixtures for the trainer tests (helpers live in trainer_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_set_3cls(tmp_path_factory) -> Path:
    """A synthetic set's folder (images/, masks/, its manifest) of 3 classes x 10 images of 32 px:
    enough for a real (if short) training run."""
    from training.synth import make_synthetic

    out = tmp_path_factory.mktemp("tiny-synth")
    make_synthetic(out, classes=3, per_class=10, size=32, seed=3)
    return out
