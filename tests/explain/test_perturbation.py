"""Occlusion against Captum's Occlusion, RISE against its formula written out, and the progress
channel: reported per batch, and a callback returning False stops the method (Cancelled) with
the model left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gcam_desktop.explain import explain
from gcam_desktop.explain.perturbation_methods import rise_grids, rise_masks
from gcam_desktop.explain.progress import Cancelled, reporting
from gcam_desktop.explain.references import black, strong_blur
from gcam_desktop.models import build_model

from explain_helpers import assert_untouched, snapshot


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return build_model("small_cnn", 4).eval()


@pytest.fixture(scope="module")
def x32():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("fill, patch, stride", [("mean", 8, 4), ("zero", 8, 3), ("blur", 5, 5)])
def test_occlusion_equals_captum(small, x32, fill, patch, stride):
    """Same window (all channels x patch x patch), stride and fill; (3, 8, 3) leaves a last
    window cut off at the edge, as Captum's does."""
    from captum.attr import Occlusion

    ours = explain(small, x32, "occlusion", patch=patch, stride=stride, fill=fill, targets=[0, 2],
                   batch_size=7)
    base = {"mean": torch.zeros_like(x32), "zero": black(small, x32), "blur": strong_blur(x32)}[fill]
    theirs = Occlusion(small).attribute(x32, sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride),
                                        baselines=base, target=[0, 2], perturbations_per_eval=5)
    assert torch.allclose(theirs[:, 0], theirs[:, 2])  # the window spans the colour channels
    assert ours.signed and ours.raw.shape == (2, 1, 32, 32)
    assert torch.allclose(ours.raw[:, 0], theirs[:, 0].detach(), rtol=1e-5, atol=1e-6)
    assert theirs.abs().max() > 1e-3


def test_occlusion_top_k_shares_the_forwards(small, x32):
    calls = []
    with reporting(lambda done, total: calls.append((done, total))):
        two = explain(small, x32, "occlusion", patch=16, stride=8, top_k=2, batch_size=4)
    assert calls[-1] == (18, 18) and len(calls) == 5  # 2 images x 9 windows, in batches of 4
    one = explain(small, x32, "occlusion", patch=16, stride=8, targets=two.classes[:, 1])
    assert torch.allclose(two.raw[:, 1], one.raw[:, 0], atol=1e-6)


def test_rise_equals_its_formula(small, x32):
    """sum_i P_c(x * M_i) M_i / (N p), the masks drawn by the same seed, in the plainest form."""
    n_masks, cell, keep = 12, 8, 0.4
    ours = explain(small, x32, "rise", masks=n_masks, cell=cell, keep=keep, seed=5, targets=[1, 3], batch_size=6)
    grids, shifts = rise_grids(n_masks, 32, 32, cell, keep, 5)
    masks = rise_masks(grids, shifts, 32, 32, cell)
    expected = np.zeros((2, 32, 32))
    with torch.no_grad():
        for img, target in ((0, 1), (1, 3)):
            for i in range(n_masks):
                prob = torch.softmax(small(x32[img:img + 1] * masks[i]), 1)[0, target].item()
                expected[img] += prob * masks[i, 0].numpy()
    expected /= n_masks * keep
    assert not ours.signed and ours.raw.shape == (2, 1, 32, 32)
    np.testing.assert_allclose(ours.raw[:, 0].numpy(), expected, rtol=1e-5, atol=1e-7)


def test_rise_masks_are_petsiuk_s():
    """Binary grids, kept with probability p, upsampled bilinearly ((cells + 1) x cell px a side,
    pixel centres as skimage's order-1 resize places them) and cropped at a shift below a cell."""
    from skimage.transform import resize

    grids, shifts = rise_grids(200, 20, 28, 7, 0.3, 1)
    assert grids.shape == (200, 1, 3, 4) and set(grids.unique().tolist()) <= {0.0, 1.0}
    assert abs(grids.mean().item() - 0.3) < 0.05
    assert int(shifts.min()) >= 0 and int(shifts.max()) < 7
    masks = rise_masks(grids[:3], shifts[:3], 20, 28, 7)
    for m, g, (dy, dx) in zip(masks, grids[:3], shifts[:3].tolist()):
        up = resize(g[0].numpy(), (4 * 7, 5 * 7), order=1, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(m[0].numpy(), up[dy:dy + 20, dx:dx + 28], atol=1e-6)
    again, _ = rise_grids(200, 20, 28, 7, 0.3, 1)
    assert torch.equal(again, grids)


@pytest.mark.parametrize("method, options", [
    ("occlusion", {"patch": 16, "stride": 8, "batch_size": 3}),
    ("rise", {"masks": 8, "cell": 16, "batch_size": 4}),
    ("deeplift", {}),
])
def test_progress_and_cancel(small, x32, method, options):
    seen = []
    with reporting(lambda done, total: seen.append((done, total))):
        explain(small, x32, method, **options)
    assert seen and seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    model = build_model("small_cnn", 4)
    model.load_state_dict(small.state_dict())
    model.train()
    before = snapshot(model)
    with reporting(lambda done, total: False), pytest.raises(Cancelled):
        explain(model, x32, method, **options)
    assert_untouched(model, before)


@pytest.mark.parametrize("options, message", [
    ({"patch": 40}, "patch 40 is larger than the 32 x 32 image"),
    ({"patch": 4, "stride": 5}, "stride 5 would skip pixels"),
    ({"fill": "noise"}, "occlusion fill must be one of 'mean', 'blur', 'zero'"),
    ({"batch_size": 0}, "batch_size >= 1"),
    ({"patch": 2.5}, "whole number"),
])
def test_occlusion_options_are_checked(small, x32, options, message):
    with pytest.raises(ValueError, match=message):
        explain(small, x32, "occlusion", **options)


@pytest.mark.parametrize("options, message", [({"keep": 0}, "probability"), ({"masks": 0}, "masks >= 1")])
def test_rise_options_are_checked(small, x32, options, message):
    with pytest.raises(ValueError, match=message):
        explain(small, x32, "rise", **options)


@pytest.mark.slow
def test_occlusion_equals_captum_at_224():
    from captum.attr import Occlusion

    torch.manual_seed(0)
    model = build_model("resnet50", 5).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    ours = explain(model, x, "occlusion", patch=56, stride=56, fill="blur")
    theirs = Occlusion(model).attribute(x, sliding_window_shapes=(3, 56, 56), strides=(3, 56, 56),
                                        baselines=strong_blur(x), target=ours.classes[:, 0])
    assert torch.allclose(ours.raw[:, 0], theirs[:, 0].detach(), rtol=1e-4, atol=1e-5)


def test_a_model_without_normalisation_is_taken_as_imagenet(small):
    x = torch.zeros(1, 3, 4, 4)
    b = black(small, x)
    assert torch.allclose(b[0, :, 0, 0], torch.tensor([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]))
    other = nn.Linear(1, 1)
    other.input_normalization = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert torch.allclose(black(other, x), torch.full_like(x, -2.0))


def test_the_strong_blur_is_torchvisions_gaussian_blur():
    """references.strong_blur does in torch what torchvision's gaussian_blur does (the bundle's
    engine must not need torchvision's operators for it): the same numbers."""
    import math

    from torchvision.transforms.functional import gaussian_blur

    from gcam_desktop.explain.references import BLUR_SIGMA_FRACTION, strong_blur

    for side in (64, 37):
        x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(side))
        sigma = BLUR_SIGMA_FRACTION * side
        radius = max(1, min(math.ceil(3 * sigma), side - 1))
        assert torch.allclose(strong_blur(x), gaussian_blur(x, [2 * radius + 1] * 2, [sigma, sigma]), atol=1e-6)
