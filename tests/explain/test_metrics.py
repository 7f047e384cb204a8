"""Explanation metrics on hand-made cases whose answers are known exactly."""

import math

import pytest
import torch
from torch import nn

from gcam_desktop.explain import metrics as M
from gcam_desktop.models import build_model

H = W = 8
REGION = torch.zeros(H, W, dtype=torch.bool)
REGION[:4, :4] = True  # 16 of the 64 pixels carry the evidence
R, HW = int(REGION.sum()), H * W


class RegionModel(nn.Module):
    """p(class 0) = mean of channel 0 over REGION, exactly (logits are log-probabilities)."""

    def __init__(self, region=REGION):
        super().__init__()
        self.register_buffer("region", region)
        self.images_seen = 0
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.images_seen += x.shape[0]
        a = x[:, 0][:, self.region].mean(dim=1).clamp(1e-7, 1 - 1e-7)
        return torch.stack([a.log(), (1 - a).log()], dim=1)


class RatioModel(nn.Module):
    """p(class 0) = a / (a + b + eps): region evidence against background evidence."""

    def forward(self, x):
        a = x[:, 0][:, REGION].mean(dim=1)
        b = x[:, 0][:, ~REGION].mean(dim=1)
        return torch.stack([(a + 1e-6).log(), (b + 1e-6).log()], dim=1)


def ones(n=1):
    return torch.ones(n, 3, H, W)


# ------------------------------------------------------------------------------ deletion / insertion

def test_perfect_ordering_deletion_falls_linearly_to_zero():
    c = M.deletion_auc(RegionModel(), ones(), REGION.float()[None], targets=0, steps=16)
    assert c.fractions.tolist() == [k / 16 for k in range(17)]
    expected = [max(0.0, 1 - 4 * k / R) for k in range(17)]
    assert c.probs[0].tolist() == pytest.approx(expected, abs=1e-5)
    assert c.auc.item() == pytest.approx(R / (2 * HW), abs=1e-5)  # 0.125


def test_worst_ordering_deletion_keeps_the_evidence_until_the_end():
    c = M.deletion_auc(RegionModel(), ones(), (~REGION).float()[None], targets=0, steps=16)
    assert c.auc.item() == pytest.approx(1 - R / (2 * HW), abs=1e-5)  # 0.875
    assert c.probs[0, :12].tolist() == pytest.approx([1.0] * 12, abs=1e-5)


def test_random_ordering_gives_the_diagonal_on_average():
    torch.manual_seed(0)
    n = 200
    maps = torch.rand(n, H, W)
    c = M.deletion_auc(RegionModel(), ones(n), maps, targets=0, steps=16)
    assert c.auc.mean().item() == pytest.approx(0.5, abs=0.03)
    # and each curve still runs from the full image to the all-removed image
    assert torch.allclose(c.probs[:, 0], torch.ones(n, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(c.probs[:, -1], torch.zeros(n, dtype=torch.float64), atol=1e-5)


def test_flat_map_is_a_random_not_a_raster_order():
    # Raster order would remove the top rows (all of REGION) first and score 0.125.
    c = M.deletion_auc(RegionModel(), ones(), torch.zeros(1, H, W), targets=0, steps=16)
    assert 0.2 < c.auc.item() < 0.8


def test_perfect_insertion_from_zero_rises_at_once():
    c = M.insertion_auc(RegionModel(), ones(), REGION.float()[None], targets=0, steps=16, baseline="zero")
    expected = [min(1.0, 4 * k / R) for k in range(17)]
    assert c.probs[0].tolist() == pytest.approx(expected, abs=1e-5)
    assert c.auc.item() == pytest.approx(1 - R / (2 * HW), abs=1e-5)


def test_endpoints_are_the_full_image_and_the_baselines():
    torch.manual_seed(1)
    model = build_model("small_cnn", 3).eval()
    x = torch.randn(2, 3, 32, 32)
    maps = torch.rand(2, 16, 16)  # coarser than the image: stretched over it
    out = M.deletion_insertion(model, x, maps, steps=5)
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
        t = p.argmax(1)
        p_zero = torch.softmax(model(torch.zeros_like(x)), 1)
        p_blur = torch.softmax(model(M.gaussian_blur(x)), 1)
    d, ins = out["deletion"], out["insertion"]
    assert d.targets.tolist() == t.tolist() == ins.targets.tolist()
    rows = torch.arange(2)
    assert torch.allclose(d.probs[:, 0].float(), p[rows, t], atol=1e-5)
    assert torch.allclose(d.probs[:, -1].float(), p_zero[rows, t], atol=1e-5)
    assert torch.allclose(ins.probs[:, 0].float(), p_blur[rows, t], atol=1e-5)
    assert torch.allclose(ins.probs[:, -1].float(), p[rows, t], atol=1e-5)
    assert d.probs.shape == ins.probs.shape == (2, 6)
    assert torch.allclose(d.auc, torch.trapezoid(d.probs, d.fractions, dim=1))


def test_curves_are_batched_and_reuse_the_given_probabilities():
    model = RegionModel()
    n, steps = 3, 10
    x = ones(n)
    maps = torch.rand(n, H, W)
    clean = torch.softmax(model(x), 1)
    model.calls = model.images_seen = 0
    out = M.deletion_insertion(model, x, maps, targets=0, steps=steps, probs=clean, batch_size=16)
    # 2 * S pictures per image, nothing more, in ceil(2SN / batch) forwards
    assert model.images_seen == 2 * steps * n
    assert model.calls == math.ceil(2 * steps * n / 16)
    model.calls = model.images_seen = 0
    one_by_one = M.deletion_insertion(model, x, maps, targets=0, steps=steps, batch_size=1)
    assert model.images_seen == 2 * steps * n + n  # plus the full images, no probs given
    for kind in ("deletion", "insertion"):
        assert torch.allclose(out[kind].probs, one_by_one[kind].probs, atol=1e-6)


def test_explicit_targets_and_mode_restored():
    torch.manual_seed(2)
    model = build_model("small_cnn", 4)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    c = M.deletion_auc(model, x, torch.rand(2, 32, 32), targets=[3, 1], steps=4)
    assert c.targets.tolist() == [3, 1]
    assert model.training  # put back as the caller left it
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    assert torch.allclose(c.probs[:, 0].float(), p[[0, 1], [3, 1]], atol=1e-5)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="2 maps for 1 images"):
        M.deletion_auc(RegionModel(), ones(), torch.rand(2, H, W))
    with pytest.raises(ValueError, match="Explanation.maps"):
        M.deletion_auc(RegionModel(), ones(), torch.rand(1, 3, H, W))
    with pytest.raises(ValueError, match="steps"):
        M.deletion_auc(RegionModel(), ones(), torch.rand(1, H, W), steps=0)
    with pytest.raises(ValueError, match="baseline"):
        M.deletion_auc(RegionModel(), ones(), torch.rand(1, H, W), baseline="grey")


def test_gaussian_blur_keeps_constants_and_smooths_edges():
    x = torch.zeros(1, 3, 32, 32)
    assert torch.allclose(M.gaussian_blur(x + 0.7), x + 0.7, atol=1e-6)
    x[..., :, 16:] = 1
    y = M.gaussian_blur(x, sigma=2.0)
    assert y.shape == x.shape
    assert 0 < y[0, 0, 5, 15].item() < 0.5 < y[0, 0, 5, 16].item() < 1


def test_pixel_ranks_and_step_counts():
    ranks = M.pixel_ranks(torch.tensor([[[0.1, 0.9], [0.5, 0.3]]]))
    assert ranks.tolist() == [[3, 0, 1, 2]]
    assert M.step_counts(10, 4).tolist() == [0, 3, 5, 8, 10]


# ------------------------------------------------------------------------------------ pointing game

def peak_map(y, x, size=224, sigma=6.0):
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    return torch.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma ** 2))


def box_mask(size=224, y0=80, y1=140, x0=80, x1=140):
    m = torch.zeros(size, size, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def test_pointing_game_hits_inside_misses_outside():
    maps = torch.stack([peak_map(100, 100), peak_map(20, 20), peak_map(110, 150), peak_map(110, 160)])
    masks = box_mask().expand(4, -1, -1)
    # inside; far outside; 11 px right of the box (within 15); 21 px right (beyond 15)
    assert M.pointing_game(maps, masks).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert M.pointing_game(maps, masks, tolerance=0).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_pointing_tolerance_scales_with_image_size():
    assert M.pointing_tolerance(224, 224) == pytest.approx(15.0)
    assert M.pointing_tolerance(448, 448) == pytest.approx(30.0)
    # 25 px right of the box at 448 px is within 30 px; at 224 scale it would be a miss
    mask = box_mask(448, 160, 280, 160, 280)
    hit = M.pointing_game(peak_map(220, 279 + 25, size=448)[None], mask[None])
    assert hit.tolist() == [1.0]


def test_pointing_game_low_resolution_map_empty_mask_and_flat_map():
    small = peak_map(25, 25, size=56, sigma=2)[None]  # 4x coarser: peak lands at ~(100, 100)
    assert M.pointing_game(small, box_mask()[None]).tolist() == [1.0]
    empty = torch.zeros(1, 224, 224, dtype=torch.bool)
    assert math.isnan(M.pointing_game(peak_map(100, 100)[None], empty).item())
    assert M.pointing_game(torch.zeros(1, 224, 224), box_mask()[None]).tolist() == [0.0]


def test_plateau_maximum_points_from_its_middle_not_its_corner():
    # A 2x2 map upsampled to 64x64 is flat over the top-left 16x16 corner (edge clamping).
    coarse = torch.tensor([[[1.0, 0.2], [0.2, 0.1]]])
    up = torch.nn.functional.interpolate(coarse[:, None], size=(64, 64), mode="bilinear",
                                         align_corners=False)[:, 0]
    y, x = M.peak_points(up)[0].tolist()
    assert 6 <= y <= 9 and 6 <= x <= 9  # the plateau's middle, ~(7.5, 7.5), not (0, 0)
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    mask[0, 10:20, 10:20] = True  # ~4.2 px from the plateau's middle, 14 px from its corner
    assert M.pointing_game(up, mask, tolerance=5).tolist() == [1.0]
    assert M.peak_points(peak_map(100, 120)[None])[0].tolist() == [100.0, 120.0]


# ----------------------------------------------------------------------------------- energy in mask

def test_energy_in_mask_exact_share():
    m = torch.full((1, 8, 8), -1.0)  # negative evidence does not count
    m[0, 0, :4] = 1.0                # 4 px inside, energy 4
    m[0, 7, :4] = 3.0                # 4 px outside, energy 12
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :2] = True
    assert M.energy_in_mask(m, mask).tolist() == pytest.approx([4 / 16])
    assert M.energy_in_mask(m * (m > 2), mask).tolist() == [0.0]  # all energy outside
    assert M.energy_in_mask(torch.zeros(1, 8, 8), mask).tolist() == [0.0]  # no energy at all


def test_energy_of_a_uniform_map_is_the_mask_area_at_any_resolution():
    mask = box_mask()[None]
    area = mask.float().mean().item()
    assert M.energy_in_mask(torch.full((1, 7, 7), 0.3), mask).item() == pytest.approx(area, rel=1e-5)
    assert M.energy_in_mask(peak_map(110, 110, sigma=3)[None], mask).item() > 0.99
    assert math.isnan(M.energy_in_mask(torch.ones(1, 4, 4), torch.zeros(1, 8, 8)).item())


# ------------------------------------------------------------------------------------ top-region IoU

def test_top_region_iou():
    torch.manual_seed(3)
    a = torch.rand(2, 10, 10)
    assert M.top_region_iou(a, a).tolist() == [1.0, 1.0]
    left = torch.zeros(1, 10, 10)
    left[..., :2] = 1
    right = torch.zeros(1, 10, 10)
    right[..., -2:] = 1
    assert M.top_region_iou(left, right).tolist() == [0.0]
    # the same region at a coarser resolution agrees exactly
    coarse = torch.zeros(1, 5, 5)
    coarse[..., :1] = 1
    assert M.top_region_iou(left, coarse).item() == pytest.approx(1.0)


# ---------------------------------------------------------------------------- confidence (drop/incr)

def test_average_drop_zero_when_the_map_keeps_the_evidence_and_full_when_not():
    model = RegionModel()
    x = ones(2)
    maps = torch.stack([REGION.float(), (~REGION).float()])
    cc = M.confidence_change(model, x, maps, targets=0)
    assert cc.drop.tolist() == pytest.approx([0.0, 100.0], abs=1e-3)
    assert cc.increase.tolist() == [False, False]
    assert cc.average_drop == pytest.approx(50.0, abs=1e-3)
    assert M.average_drop(model, x[:1], maps[:1], targets=0) == pytest.approx(0.0, abs=1e-3)


def test_increase_in_confidence_when_masking_removes_distractors():
    x = ones(1)
    cc = M.confidence_change(RatioModel(), x, REGION.float()[None], targets=0)
    assert cc.probs.item() == pytest.approx(0.5, abs=1e-4)
    assert cc.masked_probs.item() == pytest.approx(1.0, abs=1e-4)
    assert cc.increase.tolist() == [True] and cc.drop.tolist() == [0.0]
    assert M.increase_in_confidence(RatioModel(), x, REGION.float()[None], targets=0) == 100.0


def test_confidence_masks_in_pixel_space_with_normalisation():
    # in pixel space a dropped pixel turns black: normalised value -mean/std, not 0
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    x = torch.full((1, 3, H, W), 2.0)  # pixel value 1.0
    model = RegionModel()
    half = torch.full((1, H, W), 0.5)
    cc = M.confidence_change(model, x, half, targets=0, mean=mean, std=std)
    # masked pixel 0.5 -> normalised 0.0 -> p = clamp(0)
    assert cc.masked_probs.item() == pytest.approx(0.0, abs=1e-5)
    cc2 = M.confidence_change(model, x.clamp(max=1.0), half, targets=0)
    assert cc2.masked_probs.item() == pytest.approx(0.5, abs=1e-5)

