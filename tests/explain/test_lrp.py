"""LRP (explain/lrp.py): equal to Zennit used directly on torchvision's ResNet50, the SE / s_se
gate rule on a tiny network computed by hand, conservation, the model untouched, and every
composite on every ResNet variant."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlus, EpsilonPlusFlat, LayerMapComposite, layer_map_base
from zennit.rules import Epsilon
from zennit.torchvision import ResNetCanonizer
from zennit.types import Convolution

from gcam_desktop.explain import explain
from gcam_desktop.explain import lrp_network
from gcam_desktop.explain.lrp import COMPOSITES, conservation
from gcam_desktop.explain.lrp_rules import stabilize
from gcam_desktop.models import build_model
from gcam_desktop.models.attention import SEGate
from gcam_desktop.models.resnet import Bottleneck, SharedSEStage

from explain_helpers import assert_untouched, snapshot

# Ours (our ResNet50s: the rules as autograd functions, explain/lrp_rules.py; other networks:
# Zennit's hooks) and Zennit's maps compute the same quantities; they agree to float32 rounding.
# Tolerance: 1e-5 of the map's largest |value| (float32 relative precision ~1e-7, accumulated
# over ~50 layers), and a correlation >= 0.999.
REL_TOL = 1e-5


def _zennit_composite(name: str):
    """The same composite built from Zennit's own classes and its torchvision ResNet canonizer."""
    canon = [ResNetCanonizer()]
    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(canonizers=canon)
    if name == "alpha1_beta0":
        return EpsilonPlus(canonizers=canon)
    return LayerMapComposite(layer_map=layer_map_base() + [
        (Convolution, Epsilon()), (nn.Linear, Epsilon())], canonizers=canon)


def _no_bn_eps(model: nn.Module) -> nn.Module:
    """BatchNorm eps 0: Zennit's merge leaves a BatchNorm computing x / sqrt(1 + eps) behind
    each convolution, ours merges exactly; with eps 0 the two networks are the same."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 0.0
    return model


@pytest.fixture(scope="module")
def resnets():
    """torchvision's ResNet50 (random, seeded, BatchNorms with non-trivial statistics and
    affine parameters so the merge matters) and ours with the same weights."""
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(num_classes=10).eval()
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    ours = build_model("resnet50", 10)
    ours.load_state_dict(tv.state_dict())
    return _no_bn_eps(tv), _no_bn_eps(ours).eval()


def _zennit_maps(model, x, classes, composite):
    """Zennit's LRP of each target column: relevance = the logit at the top, summed over colour."""
    maps = []
    for k in range(classes.shape[1]):
        c = classes[:, k:k + 1]
        with Gradient(model, _zennit_composite(composite)) as attributor:
            _, rel = attributor(x, lambda out: torch.zeros_like(out).scatter_(1, c, out.gather(1, c)))
        maps.append(rel.sum(1))
    return torch.stack(maps, 1)


def _check_against_zennit(resnets, composite, size):
    tv, ours = resnets
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    before = snapshot(tv)
    ex = explain(ours, x, "lrp", top_k=2, composite=composite)
    ref = _zennit_maps(tv, x, ex.classes, composite)
    assert_untouched(tv, before)  # Zennit's own context restores torchvision's model too
    assert ref.abs().amax() > 0
    assert torch.allclose(ex.raw, ref, rtol=0, atol=REL_TOL * ref.abs().amax().item())
    for k in range(2):
        r = torch.corrcoef(torch.stack([ex.raw[0, k].flatten(), ref[0, k].flatten()]))[0, 1]
        assert r >= 0.999
    # conservation(): the input relevance over the logit, as Zennit's map gives it
    expected = ref.sum((-2, -1)) / ex.logits.gather(1, ex.classes)
    assert torch.allclose(conservation(ex), expected, rtol=1e-4)


# EpsilonPlusFlat, the usual composite, in the fast tier; the other two in the full one.
@pytest.mark.parametrize("composite", [c if c == "epsilon_plus_flat" else pytest.param(c, marks=pytest.mark.slow)
                                       for c in COMPOSITES])
def test_equal_to_zennit_on_torchvision_resnet50(resnets, composite):
    _check_against_zennit(resnets, composite, 64)


@pytest.mark.slow
def test_equal_to_zennit_at_224(resnets):
    _check_against_zennit(resnets, "epsilon_plus_flat", 224)


# --- the gate rule, by hand -------------------------------------------------------------------

S = [[1.0, 2.0, 1.0, 1.0], [2.0, 1.0, 1.0, 2.0]]  # the block's input s_c at pixels 0 and 1
V = [1.0, 0.5, 1.0, 2.0]  # conv3: branch channel c = V[c] * h2
G = [0.5, 0.25, 0.75, 0.5]  # the gate
W = [1.0, 0.5, 0.25, 1.0]  # the explained class's fc row


class TinyGated(nn.Module):
    """x (3 channels, 1 x 2 pixels) -> stem (s = x_0, x_1, x_2, x_0) -> one bottleneck of width 1
    (conv1 sums the channels, conv2 swaps the two pixels, conv3 scales by V), gated by G
    through an SE gate ("block") or a one-block s_se stage ("stage") -> average pool -> fc."""

    def __init__(self, attention: str) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1, bias=False)
        block = Bottleneck(4, 1, se=attention == "block")
        self.stage = SharedSEStage([block], 4) if attention == "stage" else nn.Sequential(block)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            self.stem.weight.zero_()
            for j, i in enumerate((0, 1, 2, 0)):
                self.stem.weight[j, i] = 1.0
            block.conv1.weight.fill_(1.0)
            block.conv2.weight.zero_()
            block.conv2.weight[0, 0, 1, 0] = block.conv2.weight[0, 0, 1, 2] = 1.0  # the other pixel
            block.conv3.weight.copy_(torch.tensor(V).view(4, 1, 1, 1))
            for bn in (block.bn1, block.bn2, block.bn3):
                bn.running_var.fill_(1 - bn.eps)  # BatchNorm = identity
            se = next(m for m in self.modules() if isinstance(m, SEGate))
            for p in se.parameters():
                p.zero_()
            se.fc2.bias.copy_(torch.tensor([math.log(g / (1 - g)) for g in G]))  # sigmoid -> G
            self.fc.weight.copy_(torch.tensor([W, [0.1, 0.1, 0.1, 0.1]]))

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stage(self.stem(x))), 1))


def _tiny_input() -> torch.Tensor:
    x = torch.zeros(1, 3, 1, 2)
    for p in range(2):
        x[0, :, 0, p] = torch.tensor(S[p][:3])
    return x


def _by_hand(gate_scales_relevance: bool = False) -> tuple[list[float], float]:
    """LRP of class 0 through TinyGated, rule by rule (every quantity is positive, so the
    epsilon, z+ and flat rules all reduce to proportional shares here)."""
    h1 = [sum(S[p]) for p in range(2)]  # conv1
    h2 = [h1[1], h1[0]]  # conv2 swaps the pixels
    gated = [[G[c] * V[c] * h2[p] for c in range(4)] for p in range(2)]
    y = [[S[p][c] + gated[p][c] for c in range(4)] for p in range(2)]
    logit = sum(W[c] * (y[0][c] + y[1][c]) / 2 for c in range(4))
    # fc (R = the logit at the top): R_a_c = W_c a_c; the average pool shares it by y / 2;
    # the ReLU passes it; the residual sum splits it in proportion to identity and gated branch.
    r_identity = [sum(W[c] * S[p][c] / 2 for c in range(4)) for p in range(2)]
    r_branch = [sum(W[c] * gated[p][c] / 2 * (G[c] if gate_scales_relevance else 1) for c in range(4))
                for p in range(2)]
    # The gate is a constant scaling: the gated branch's relevance reaches conv3 unchanged
    # (not times G), none goes into the SE layers. conv3 and conv2 (one input each) pass it on,
    # conv2 back to the other pixel; conv1 shares it among s by s_c / h1, the stem passes it to
    # x (x_0 gets s_0's and s_3's): each pixel keeps its total.
    r_h1 = [r_branch[1], r_branch[0]]
    return [r_identity[p] + r_h1[p] for p in range(2)], logit


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("attention", ["block", "stage"])
def test_gate_rule_on_a_network_computed_by_hand(attention, composite):
    model = TinyGated(attention).eval()
    x = _tiny_input()
    expected, logit = _by_hand()
    assert logit == pytest.approx(13.625) and expected == pytest.approx([6.0, 7.625])  # the arithmetic
    before = snapshot(model)
    ex = explain(model, x, "lrp", targets=0, composite=composite)
    assert_untouched(model, before)
    # Zennit's merge leaves each BatchNorm's eps: x / sqrt(1 + 1e-5) three times in the branch
    assert ex.logits[0, 0].item() == pytest.approx(logit, rel=1e-4)
    assert ex.raw[0, 0, 0].tolist() == pytest.approx(expected, rel=1e-4)
    # The plain gradient through the product would scale the branch's relevance by the gate:
    # a map far from this one (the test tells the rules apart, not only the totals).
    scaled, _ = _by_hand(gate_scales_relevance=True)
    assert abs(scaled[0] - expected[0]) > 1 and abs(scaled[1] - expected[1]) > 1
    assert conservation(ex).item() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("arch", ["se_resnet50", "s_se_resnet50"])
def test_no_relevance_enters_the_gates(arch_models, arch):
    """The gate is a constant: LRP with the gates computed equals LRP with the same gate values
    fixed from outside (attention=custom), on the real architectures."""
    model = arch_models[arch]
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    ex = explain(model, x, "lrp", gates=True)
    fixed = explain(model, x, "lrp", attention={n: g[0] for n, g in ex.gates.items()})
    # The recorded gates come from the model's own forward, LRP's from the canonized copy (the
    # merged BatchNorms' eps: ~1e-5 relative), so the two maps agree to ~1e-4 of their peak
    # (3e-5 seen); relevance let into the gates would move them far more.
    assert ex.raw.abs().amax() > 0
    assert torch.allclose(fixed.raw, ex.raw, rtol=0, atol=2e-4 * ex.raw.abs().amax().item())
    assert torch.corrcoef(torch.stack([fixed.raw.flatten(), ex.raw.flatten()]))[0, 1] > 0.99999


# --- our rule layers (lrp_rules / lrp_network) against Zennit's hooks (the path above) --------

def _variant_no_eps(arch_models, arch):
    model = build_model(arch, 3)
    model.load_state_dict(arch_models[arch].state_dict())
    return _no_bn_eps(model).eval()


# The hand-computed gate test runs on Zennit's path (a tiny network that is not our ResNet50);
# this ties our rule layers to it on the real SE and s_se networks: the same maps.
# The fast tier: s_se (gates shared across blocks) with the usual composite.
@pytest.mark.parametrize("composite", [c if c == "epsilon_plus_flat" else pytest.param(c, marks=pytest.mark.slow)
                                       for c in COMPOSITES])
@pytest.mark.parametrize("arch", [pytest.param("se_resnet50", marks=pytest.mark.slow), "s_se_resnet50"])
def test_rule_layers_equal_zennits_hooks_on_the_gated_variants(arch_models, images64, monkeypatch, arch,
                                                               composite):
    model = _variant_no_eps(arch_models, arch)
    assert lrp_network.supports(model)
    x = images64[:1]
    ours = explain(model, x, "lrp", composite=composite)
    monkeypatch.setattr(lrp_network, "supports", lambda m: False)  # Zennit's path, the same model
    ref = explain(model, x, "lrp", composite=composite)
    assert ref.raw.abs().amax() > 0
    assert torch.allclose(ours.raw, ref.raw, rtol=0, atol=REL_TOL * ref.raw.abs().amax().item())
    assert torch.equal(ours.classes, ref.classes)


def test_stabiliser_equals_zennits():
    from zennit.core import Stabilizer

    z = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    for eps in (1e-6, 0.25):
        assert torch.equal(stabilize(z, eps), Stabilizer(eps)(z))


def test_the_rule_network_is_kept_and_follows_the_weights(arch_models, images64):
    model = build_model("resnet50", 3)
    model.load_state_dict(arch_models["resnet50"].state_dict())
    model.eval()
    first = explain(model, images64, "lrp")
    net = lrp_network.network(model)
    assert lrp_network.network(model) is net  # built once per model
    with torch.no_grad():
        model.fc.weight.mul_(-1)  # an in-place change: the next call sees the new weights
    flipped = explain(model, images64, "lrp", targets=first.classes[:, 0].tolist())
    assert lrp_network.network(model) is not net
    with torch.no_grad():
        assert torch.allclose(flipped.logits, model(images64), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(flipped.raw, first.raw, atol=1e-3 * first.raw.abs().amax().item())
    # One stage changed (as the sanity cascade does): its layers are merged again, the rest kept.
    before = lrp_network.network(model)
    with torch.no_grad():
        model.layer4[0].conv2.weight.mul_(2)
    after = lrp_network.network(model)
    assert after.layer1[0].conv1 is before.layer1[0].conv1 and after.conv1 is before.conv1
    assert after.layer4[0].conv2 is not before.layer4[0].conv2
    # A hook on the model (another thread's layer capture) is not carried into LRP's copy.
    calls = []
    handle = model.layer2.register_forward_hook(lambda *a: calls.append(1))
    try:
        explain(model, images64, "lrp")
    finally:
        handle.remove()
    assert calls == []


def test_threads_share_the_rule_network(arch_models, images64):
    """The kept network holds no per-call state: two threads with different composites at once
    give each the maps it gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    model = arch_models["s_se_resnet50"]
    alone = {c: explain(model, images64, "lrp", composite=c).raw for c in ("epsilon", "alpha1_beta0")}
    with ThreadPoolExecutor(2) as pool:
        got = dict(zip(alone, pool.map(lambda c: explain(model, images64, "lrp", composite=c).raw, alone)))
    for c in alone:
        assert torch.equal(got[c], alone[c]), c


@pytest.mark.slow  # the fast tier has each composite against Zennit and the gate rule by hand
@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("arch", ["resnet50", "se_resnet50", "s_se_resnet50"])
def test_every_composite_on_every_variant(arch_models, images64, arch, composite):
    model = arch_models[arch]
    before = snapshot(model)
    ex = explain(model, images64, "lrp", top_k=2, composite=composite)
    assert_untouched(model, before)
    assert ex.signed and ex.layer is None and ex.method == "lrp"
    assert ex.raw.shape == ex.maps.shape == (2, 2, 64, 64)
    assert torch.isfinite(ex.raw).all() and (ex.raw.abs().flatten(2).amax(2) > 0).all()
    assert ex.maps.amin() >= 0 and ex.maps.amax() <= 1
    assert torch.allclose(ex.maps.flatten(2).amax(2), torch.ones(2, 2))  # |raw| min-max per map
    # the logits are the model's own: the BatchNorms are merged exactly (float rounding only)
    with torch.no_grad():
        assert torch.allclose(ex.logits, model(images64), rtol=1e-4, atol=1e-4)
    assert torch.isfinite(conservation(ex)).all()


@pytest.mark.slow
def test_top_k_equals_one_target_at_a_time(arch_models, images64):
    model = arch_models["s_se_resnet50"]
    both = explain(model, images64, "lrp", top_k=2)
    for k in range(2):
        one = explain(model, images64, "lrp", targets=both.classes[:, k].tolist())
        assert torch.allclose(one.raw[:, 0], both.raw[:, k], rtol=0, atol=1e-6 * both.raw.abs().amax().item())


def test_the_model_is_left_untouched_in_a_mixed_state(arch_models, images64):
    model = build_model("se_resnet50", 3)
    model.load_state_dict(arch_models["se_resnet50"].state_dict())
    model.train()
    model.layer1.eval()
    model.fc.weight.requires_grad_(False)
    before = snapshot(model)
    explain(model, images64[:1], "lrp", attention="off")
    assert_untouched(model, before)


@pytest.mark.parametrize("options, message", [
    ({"composite": "epsilon_plus"}, "epsilon_plus_flat, epsilon, alpha1_beta0"),
    ({"epsilon": 0}, "epsilon must be a number > 0"),
    ({"alpha": 2}, "lrp takes no option 'alpha'"),
])
def test_bad_options_name_what_is_valid(arch_models, images64, options, message):
    with pytest.raises(ValueError, match=message):
        explain(arch_models["resnet50"], images64, "lrp", **options)


def test_conservation_needs_a_signed_map(arch_models, images64):
    with pytest.raises(ValueError, match="gradcam"):
        conservation(explain(arch_models["resnet50"], images64, "gradcam"))


# --- the entry points that take METHODS: gcam-explain, gcam-evaluate, the sanity checks --------

def test_gcam_explain_evaluate_and_sanity_run_lrp(tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    from gcam_desktop.cli import evaluate, explain as explain_cli
    from gcam_desktop.explain.sanity import parameter_randomisation
    from gcam_desktop.models import make_meta, save_checkpoint

    torch.manual_seed(0)
    model = build_model("small_cnn", 2).eval()
    ckpt = save_checkpoint(tmp_path / "cnn.pt", model, make_meta("small_cnn", ["a", "b"], input_size=32))
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for folder in ("images", "masks"):
            (tmp_path / "set" / folder / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "set" / "images" / c / f"{i}.png")
            mask = np.zeros((32, 32), np.uint8)
            mask[8:24, 8:24] = 255
            Image.fromarray(mask).save(tmp_path / "set" / "masks" / c / f"{i}.png")
    out = tmp_path / "maps"
    code = explain_cli.main([f"--weights={ckpt}", "--method", "lrp", "--option", "composite=epsilon",
                             "--out", str(out), "--no-progress", str(tmp_path / "set" / "images" / "a")])
    assert code == 0, capsys.readouterr().err
    raw = np.load(out / "cnn" / "a" / "0.lrp.top1.npy")
    assert raw.shape == (32, 32) and np.abs(raw).max() > 0 and raw.min() < 0  # signed, at input size

    code = evaluate.main([str(tmp_path / "set"), "-c", str(ckpt), "--methods", "lrp", "--steps", "2",
                          "--no-baselines", "--resamples", "50", "--device", "cpu", "-o", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["models"][0]["methods"]["lrp"]["pointing_game"]["n"] == 4

    (result,) = parameter_randomisation(model, torch.randn(1, 3, 32, 32), ["lrp"], seed=0, independent=False)
    assert result.method == "lrp" and result.cascade[0].map.shape == (32, 32)
    assert result.cascade[-1].randomised == ["fc3", "fc2", "fc1", "conv2", "conv1"]
