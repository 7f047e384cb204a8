"""Each method on tiny models where every activation and gradient is known by hand.

FlatHead: A = the first two input channels (2 x 2), logits_c = sum V[c] * A, so dy_c/dA = V[c].
    A0 = [[1, 0], [2, 1]]   A1 = [[0, 3], [1, 0]]
    V[0]: ch0 [[1, -1], [1, 2]], ch1 [[0, 1], [-2, 0]];  V[1] = 0 (logit 1 is always 0)
    logit 0 = (1 + 0 + 2 + 2) + (0 + 3 - 2 + 0) = 6
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gcam_desktop.explain import explain

from explain_helpers import FlatHead, GapHead, image_from_channels

A0 = [[1.0, 0.0], [2.0, 1.0]]
A1 = [[0.0, 3.0], [1.0, 0.0]]
V = torch.zeros(2, 2, 2, 2)
V[0, 0] = torch.tensor([[1.0, -1.0], [1.0, 2.0]])
V[0, 1] = torch.tensor([[0.0, 1.0], [-2.0, 0.0]])


@pytest.fixture
def flat():
    return FlatHead(V)


@pytest.fixture
def x():
    return image_from_channels(A0, A1)


def raw(model, x, method, **kw):
    return explain(model, x, method, targets=0, **kw).raw[0, 0]


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_logits_are_as_computed_by_hand(flat, x):
    ex = explain(flat, x, "gradcam")
    assert ex.logits[0].tolist() == [6.0, 0.0]
    assert ex.classes.tolist() == [[0]]
    assert ex.probs[0, 0].item() == pytest.approx(1 / (1 + math.exp(-6)))


def test_gradcam_by_hand(flat, x):
    # alpha_0 = mean V[0,0] = 3/4, alpha_1 = mean V[0,1] = -1/4; map = ReLU(3/4 A0 - 1/4 A1)
    expected = t([[0.75, 0.0], [1.25, 0.75]])
    assert torch.allclose(raw(flat, x, "gradcam"), expected)


def test_hirescam_by_hand(flat, x):
    # sum_k V[0,k] * A_k = [[1, 0], [2, 2]] + [[0, 3], [-2, 0]] = [[1, 3], [0, 2]]
    assert torch.allclose(raw(flat, x, "hirescam"), t([[1.0, 3.0], [0.0, 2.0]]))


def test_layercam_by_hand(flat, x):
    # ReLU(V) * A: [[1, 0], [2, 2]] + [[0, 3], [0, 0]]: the -2 gradient at (1, 0) drops out
    assert torch.allclose(raw(flat, x, "layercam"), t([[1.0, 3.0], [2.0, 2.0]]))


def test_xgradcam_by_hand(flat, x):
    # alpha_k = sum(A_k V[0,k]) / sum A_k: 5/4 and 1/4
    assert torch.allclose(raw(flat, x, "xgradcam"), 1.25 * t(A0) + 0.25 * t(A1), atol=1e-5)


def test_gradcam_plus_plus_by_hand(flat, x):
    # alpha_ij = g^2 / (2 g^2 + sum(A_k) g^3), sum(A_k) = 4: g=1 -> 1/6, g=2 -> 1/10;
    # w_0 = 1/6 + 1/6 + 2/10 = 8/15, w_1 = 1/6 (negative gradients weigh nothing)
    expected = 8 / 15 * t(A0) + 1 / 6 * t(A1)
    assert torch.allclose(raw(flat, x, "gradcam++"), expected, atol=1e-5)


def test_eigencam_by_hand(flat, x):
    # Positions as rows of A (hw x C): (1,0), (0,3), (2,1), (1,0); centred: (0,-1), (-1,2),
    # (1,0), (0,-1). Their scatter [[2, -2], [-2, 6]] has the principal axis
    # v = (1, -(1 + sqrt 2)) / |.|, |.|^2 = 4 + 2 sqrt 2; the projection, signed to agree with
    # the summed activation, is positive only at (0, 1): (3 + 2 sqrt 2) / |.|.
    out = raw(flat, x, "eigencam")
    peak = (3 + 2 * math.sqrt(2)) / math.sqrt(4 + 2 * math.sqrt(2))
    assert torch.allclose(out, t([[0.0, peak], [0.0, 0.0]]), atol=1e-4)


def test_scorecam_by_hand(flat, x):
    # Masks: A0 / 2 and A1 / 3 (each channel min-max scaled; the input is 2 x 2 already).
    # x * (A0/2) gives logit 0 = 3.5 - 2 = 1.5; x * (A1/3) gives 2/3 + (3 - 2/3) = 3.
    # Weights are the softmax probabilities of class 0 (logit 1 stays 0): sigmoid(1.5), sigmoid(3).
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = sig(1.5) * t(A0) + sig(3.0) * t(A1)
    for batch_size in (1, 2):  # batched masked forwards give the same weights
        assert torch.allclose(raw(flat, x, "scorecam", batch_size=batch_size), expected, atol=1e-6)


def test_scorecam_max_channels_keeps_the_most_varied_channels(flat, x):
    # var(A1) > var(A0): with one channel only A1 is scored, A0 weighs 0
    expected = 1 / (1 + math.exp(-3.0)) * t(A1)
    assert torch.allclose(raw(flat, x, "scorecam", max_channels=1), expected, atol=1e-6)


def test_cam_refuses_a_head_that_is_not_gap_linear(flat, x):
    with pytest.raises(ValueError, match="global-average-pool"):
        explain(flat, x, "cam")


# ------------------------------------------------------------------------ GAP + linear head

W = torch.tensor([[1.0, -1.0], [0.0, 2.0], [-1.0, 1.0]])  # fc weight, 3 classes x 2 channels
# Image 0: A0 = [[1, 2], [3, 4]] (mean 2.5), A1 = [[4, 0], [0, 0]] (mean 1): logits
#   [1.5, 2, -1.5] + 0.25 -> prediction 1, then 0.
# Image 1: A0 = [[0, 0], [0, 8]] (mean 2), A1 = 0: logits [2, 0, -2] + 0.25 -> prediction 0.
IMG0 = ([[1.0, 2.0], [3.0, 4.0]], [[4.0, 0.0], [0.0, 0.0]])
IMG1 = ([[0.0, 0.0], [0.0, 8.0]], [[0.0, 0.0], [0.0, 0.0]])


@pytest.fixture
def gap():
    return GapHead(W, pool=False)


@pytest.fixture
def batch():
    return torch.cat([image_from_channels(*IMG0), image_from_channels(*IMG1)])


def test_gradcam_per_image_targets_in_one_batch(gap, batch):
    # dy_c/dA_k = W[c,k] / 4 everywhere. Image 0, class 0: ReLU(A0 - A1) / 4;
    # image 1, class 2: ReLU(A1 - A0) / 4 = 0 everywhere (a map without evidence).
    ex = explain(gap, batch, "gradcam", targets=[0, 2])
    assert ex.classes.tolist() == [[0], [2]]
    assert torch.allclose(ex.raw[0, 0], t([[0.0, 0.5], [0.75, 1.0]]))
    assert torch.equal(ex.raw[1, 0], torch.zeros(2, 2))
    assert torch.equal(ex.maps[1, 0], torch.zeros(2, 2))  # nothing to normalise: all zeros
    assert torch.allclose(ex.maps[0, 0], t([[0.0, 0.5], [0.75, 1.0]]))  # min-max: 0..1 already
    # each image's map is what it gets alone: images in a batch do not interact
    alone = explain(gap, batch[1:], "gradcam", targets=0)
    assert torch.allclose(alone.raw[0, 0], t([[0.0, 0.0], [0.0, 2.0]]))


def test_top_k_by_hand(gap, batch):
    ex = explain(gap, batch, "gradcam", top_k=2)
    assert ex.classes.tolist() == [[1, 0], [0, 1]]  # most probable first
    assert torch.allclose(ex.raw[0, 0], 0.5 * t(IMG0[1]))  # class 1: W[1]/4 = (0, 1/2)
    assert torch.allclose(ex.raw[0, 1], t([[0.0, 0.5], [0.75, 1.0]]))  # class 0 as above
    assert torch.allclose(ex.raw[1, 0], t([[0.0, 0.0], [0.0, 2.0]]))
    assert torch.equal(ex.raw[1, 1], torch.zeros(2, 2))  # class 1 of image 1: 1/2 * A1 = 0
    for k in range(2):  # each of the k maps equals a separate request for that class
        single = explain(gap, batch, "gradcam", targets=ex.classes[:, k].tolist())
        assert torch.allclose(single.raw[:, 0], ex.raw[:, k])


def test_top_k_shares_one_forward(gap, batch):
    gap.calls = 0
    explain(gap, batch, "gradcam", top_k=3)
    assert gap.calls == 1
    gap.calls = 0
    explain(gap, batch, "cam", top_k=3)
    assert gap.calls == 1


def test_explicit_n_by_k_targets(gap, batch):
    ex = explain(gap, batch, "gradcam", targets=[[2, 0], [0, 0]])
    assert ex.classes.tolist() == [[2, 0], [0, 0]]
    assert torch.allclose(ex.raw[0, 1], t([[0.0, 0.5], [0.75, 1.0]]))
    assert torch.equal(ex.raw[1, 0], ex.raw[1, 1])


def test_cam_is_gradcam_times_positions_by_hand(gap, batch):
    cam = explain(gap, batch, "cam", top_k=3)
    grad = explain(gap, batch, "gradcam", top_k=3)
    assert torch.allclose(cam.raw, grad.raw * 4)
    assert torch.allclose(cam.raw[0, 1], t([[0.0, 2.0], [3.0, 4.0]]))  # ReLU(A0 - A1), class 0


def test_maps_are_bilinear_upsampled_then_min_max_normalised():
    gap = GapHead(W, pool=True)  # the map lives at 2 x 2, the input at 4 x 4
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0] = torch.tensor([[0, 0, 4, 4], [0, 0, 4, 4], [8, 8, 2, 2], [8, 8, 2, 2]], dtype=torch.float32)
    ex = explain(gap, x, "gradcam", targets=0)  # ReLU(A0)/4 with A0 = pooled: [[0, 4], [8, 2]]
    assert torch.allclose(ex.raw[0, 0], t([[0.0, 1.0], [2.0, 0.5]]))
    up = F.interpolate(ex.raw, size=(4, 4), mode="bilinear", align_corners=False)[0, 0]
    expected = (up - up.min()) / (up.max() - up.min())
    assert ex.maps.shape == (1, 1, 4, 4)
    assert torch.allclose(ex.maps[0, 0], expected)
    assert ex.maps.min() == 0 and ex.maps.max() == 1
    assert ex.layer == "pool"


# ------------------------------------------------------------------------ gradient methods

class ReluNet(nn.Module):
    """x (1 x 3 x 1 x 2, six inputs) -> h = ReLU(W1 x) (2 units) -> logits = W2 h (2 classes).
    The ReLU is a module, a function, a method or in place, to test that guidance finds it."""

    def __init__(self, relu: str = "module") -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 2, bias=False)
        self.fc2 = nn.Linear(2, 2, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.kind = relu
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0, 0, 2, 0, 0], [0, 1.0, 0, 0, -1, 0]]))
            self.fc2.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5]]))

    def forward(self, x):
        h = self.fc1(x.flatten(1))
        if self.kind == "module":
            h = self.act(h)
        elif self.kind == "functional":
            h = F.relu(h)
        elif self.kind == "inplace_method":
            h.relu_()  # relies on the in-place side effect
        else:
            h = torch.relu(h)
        return self.fc2(h)


RELU_X = torch.tensor([3.0, 2.0, 0.0, 1.0, 1.0, 0.0]).view(1, 3, 1, 2)
# h = (3 + 2, 2 - 1) = (5, 1): both units active. Class 0: dlogit/dh = (1, -1).
# plain gradient: W1[0] - W1[1] = (1, -1, 0, 2, 1, 0); guided: only the positive part
# of (1, -1) passes, so W1[0] = (1, 0, 0, 2, 0, 0).


@pytest.mark.parametrize("kind", ["module", "functional", "inplace_method", "torch"])
def test_saliency_and_guided_backprop_by_hand(kind):
    net = ReluNet(kind)
    plain = explain(net, RELU_X, "saliency", targets=0)
    guided = explain(net, RELU_X, "guided_backprop", targets=0)
    # pixels: colour c at position p is input 2c + p; max over colours of |gradient|
    g_plain = torch.tensor([1.0, -1, 0, 2, 1, 0]).view(3, 1, 2).abs().amax(0)
    g_guided = torch.tensor([1.0, 0, 0, 2, 0, 0]).view(3, 1, 2).abs().amax(0)
    assert torch.allclose(plain.raw[0, 0], g_plain)
    assert torch.allclose(guided.raw[0, 0], g_guided)
    assert plain.layer is None and guided.layer is None
    # nothing of the guidance stays behind: a plain request afterwards is plain again
    assert torch.allclose(explain(net, RELU_X, "saliency", targets=0).raw, plain.raw)
    assert type(net.act) is nn.ReLU


def test_guided_backprop_stops_where_the_relu_was_off():
    net = ReluNet()
    x = torch.tensor([3.0, 0.0, 0.0, 1.0, 4.0, 0.0]).view(1, 3, 1, 2)  # unit 2: 0 - 4 < 0
    ex = explain(net, x, "guided_backprop", targets=1)  # class 1: dlogit/dh = (0.5, 0.5)
    expected = (0.5 * torch.tensor([1.0, 0, 0, 2, 0, 0])).view(3, 1, 2).abs().amax(0)
    assert torch.allclose(ex.raw[0, 0], expected)


class LinearNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.arange(24, dtype=torch.float32).view(2, 12) - 10)
            self.fc.bias.copy_(torch.tensor([0.5, -0.5]))

    def forward(self, x):
        return self.fc(x.flatten(1))


LIN_X = torch.linspace(-1, 1, 12).view(1, 3, 2, 2)


def test_integrated_gradients_is_exact_on_a_linear_model():
    net = LinearNet()
    ex = explain(net, LIN_X, "integrated_gradients", targets=1, steps=3)
    w = net.fc.weight[1].detach().view(3, 2, 2)
    assert ex.signed is True
    assert torch.allclose(ex.raw[0, 0], (LIN_X[0] * w).sum(0), atol=1e-5)
    # completeness: the attributions add up to score(x) - score(baseline)
    with torch.no_grad():
        gap = net(LIN_X)[0, 1] - net(torch.zeros_like(LIN_X))[0, 1]
    assert ex.raw.sum().item() == pytest.approx(gap.item(), rel=1e-5)
    mag = ex.raw[0, 0].abs()
    assert torch.allclose(ex.maps[0, 0], (mag - mag.min()) / (mag.max() - mag.min()))


def test_integrated_gradients_baselines_and_completeness_on_a_curved_model():
    net = ReluNet()  # piecewise linear: the midpoint rule is exact where no unit switches
    x = RELU_X
    for baseline in (0.5, torch.full((1, 3, 1, 1), 0.25)):
        ex = explain(net, x, "integrated_gradients", targets=0, steps=64, baseline=baseline)
        base = torch.as_tensor(baseline).expand_as(x)
        with torch.no_grad():
            gap = net(x)[0, 0] - net(base)[0, 0]
        assert ex.raw.sum().item() == pytest.approx(gap.item(), abs=2e-2)


def test_smoothgrad_on_a_linear_model_is_the_gradient_and_is_seeded():
    net = LinearNet()
    ex = explain(net, LIN_X, "smoothgrad", targets=0, samples=5, noise=0.3, batch_size=2)
    w = net.fc.weight[0].detach().view(3, 2, 2).abs().amax(0)
    assert torch.allclose(ex.raw[0, 0], w)
    net2 = ReluNet()
    a = explain(net2, RELU_X, "smoothgrad", targets=0, samples=4, noise=1.0, seed=3)
    b = explain(net2, RELU_X, "smoothgrad", targets=0, samples=4, noise=1.0, seed=3)
    assert torch.equal(a.raw, b.raw)


def test_smoothgrad_averages_the_gradients_of_noisy_copies():
    net = ReluNet()
    samples, noise, seed = 6, 0.5, 11
    ex = explain(net, RELU_X, "smoothgrad", targets=0, samples=samples, noise=noise, seed=seed,
                 batch_size=4)
    gen = torch.Generator().manual_seed(seed)
    sigma = noise * (RELU_X.max() - RELU_X.min())
    total = torch.zeros_like(RELU_X)
    for rows in (4, 2):  # the noise is drawn batch by batch, as the engine draws it
        xi = (RELU_X + torch.randn((rows, *RELU_X.shape[1:]), generator=gen) * sigma).requires_grad_(True)
        (g,) = torch.autograd.grad(net(xi)[:, 0].sum(), xi)
        total += g.sum(0, keepdim=True)
    assert torch.allclose(ex.raw[0, 0], (total / samples)[0].abs().amax(0), atol=1e-6)
