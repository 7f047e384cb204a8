"""ROAD (remove and debias) against pytorch-grad-cam's implementation of the authors' reference,
on the same model, image, map and percentages."""

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import (PerturbationConfidenceMetric,
                                                              RemoveLeastRelevantFirst,
                                                              RemoveMostRelevantFirst)
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

from gcam_desktop.explain.road import impute, removal_mask, road
from gcam_desktop.models import build_model

# The reference calls np.percentile on a torch tensor, which NumPy 2 warns about; ours does not.
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")

# Both solve the same sparse system in float64 and store float32: the difference is rounding.
CLOSE = dict(rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("small_cnn", 5).eval()
    g = torch.Generator().manual_seed(3)
    images = torch.randn(2, 3, 32, 32, generator=g)
    maps = torch.rand(2, 32, 32, generator=g)
    return model, images, maps


def test_imputation_matches_the_reference_without_noise(setup):
    _, images, maps = setup
    remove = removal_mask(maps[0], 30, "morf")
    ours = impute(images[0], remove, noise=0.0)
    theirs = NoisyLinearImputer(noise=0.0)(images[0], (~remove).float())
    torch.testing.assert_close(ours, theirs, **CLOSE)
    assert torch.equal(ours[:, ~remove], images[0][:, ~remove])  # kept pixels are untouched
    assert not torch.allclose(ours[:, remove], images[0][:, remove])


def test_an_imputed_pixel_is_the_weighted_mean_of_its_neighbours():
    image = torch.arange(25, dtype=torch.float32).reshape(1, 5, 5)
    remove = torch.zeros(5, 5, dtype=torch.bool)
    remove[2, 2] = True
    out = impute(image, remove, noise=0.0)
    direct = (image[0, 1, 2] + image[0, 3, 2] + image[0, 2, 1] + image[0, 2, 3]) / 6
    diagonal = (image[0, 1, 1] + image[0, 1, 3] + image[0, 3, 1] + image[0, 3, 3]) / 12
    assert float(out[0, 2, 2]) == pytest.approx(float(direct + diagonal))


@pytest.mark.parametrize("order, remover", [("morf", RemoveMostRelevantFirst), ("lerf", RemoveLeastRelevantFirst)])
def test_curves_match_the_reference(setup, order, remover):
    model, images, maps = setup
    percentages = (10, 30, 50, 70, 90)
    curves = road(model, images, maps, percentages=percentages, noise=0.0)
    targets = model(images).argmax(1)
    reference = np.stack([
        PerturbationConfidenceMetric(remover(100 - p, NoisyLinearImputer(noise=0.0)))(
            images, maps.numpy(), [ClassifierOutputSoftmaxTarget(int(t)) for t in targets], model,
            return_diff=False)
        for p in percentages], axis=1)
    torch.testing.assert_close(getattr(curves, order), torch.from_numpy(reference), **CLOSE)


def test_noise_is_seeded_and_has_the_stated_size(setup):
    _, images, maps = setup
    remove = removal_mask(maps[0], 50, "morf")
    clean = impute(images[0], remove, noise=0.0)
    a = impute(images[0], remove, noise=0.01, generator=torch.Generator().manual_seed(1))
    b = impute(images[0], remove, noise=0.01, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert float((a - clean)[:, remove].std()) == pytest.approx(0.01, rel=0.1)


def test_removal_masks_remove_the_stated_share_from_the_stated_end():
    saliency = torch.arange(100, dtype=torch.float32).reshape(10, 10)
    morf, lerf = removal_mask(saliency, 20, "morf"), removal_mask(saliency, 20, "lerf")
    assert int(morf.sum()) == 20 and bool(morf[9].all())      # the 20 largest values
    assert int(lerf.sum()) == 20 and bool(lerf[0].all())      # the 20 smallest
    with pytest.raises(ValueError, match="order"):
        removal_mask(saliency, 20, "middle")


def test_road_refuses_bad_percentages_and_leaves_the_model_as_found(setup):
    model, images, maps = setup
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        road(model, images, maps, percentages=(0, 50))
    model.train()
    try:
        road(model, images[:1], maps[:1], percentages=(50,))
        assert model.training
    finally:
        model.eval()
