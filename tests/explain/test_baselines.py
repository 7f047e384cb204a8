"""The baseline maps: seeded noise, a centred Gaussian, Sobel edges; shapes and ranges."""

import pytest
import torch

from gcam_desktop.explain.baselines import BASELINES, baseline_maps


def test_every_baseline_gives_one_map_per_image_in_unit_range():
    images = torch.randn(2, 3, 20, 30)
    for name in BASELINES:
        maps = baseline_maps(name, images)
        assert maps.shape == (2, 20, 30) and maps.dtype == torch.float32
        assert float(maps.min()) >= 0 and float(maps.max()) <= 1


def test_random_is_seeded():
    images = torch.zeros(1, 3, 8, 8)
    assert torch.equal(baseline_maps("random", images, 3), baseline_maps("random", images, 3))
    assert not torch.equal(baseline_maps("random", images, 3), baseline_maps("random", images, 4))


def test_centre_peaks_in_the_middle_and_ignores_the_image():
    a = baseline_maps("centre", torch.randn(1, 3, 21, 21))[0]
    b = baseline_maps("centre", torch.randn(1, 3, 21, 21))[0]
    assert torch.equal(a, b) and divmod(int(a.argmax()), 21) == (10, 10)
    assert float(a[0, 0]) < 0.02


def test_edges_light_the_border_of_a_square_not_its_inside_or_the_background():
    image = torch.zeros(1, 3, 32, 32)
    image[:, :, 8:24, 8:24] = 1.0
    edges = baseline_maps("edges", image)[0]
    assert float(edges[8, 16]) > 0.5 and float(edges[16, 16]) == 0 and float(edges[2, 2]) == 0


def test_an_unknown_baseline_names_the_choices():
    with pytest.raises(ValueError, match="random, centre, edges"):
        baseline_maps("blur", torch.zeros(1, 3, 4, 4))
