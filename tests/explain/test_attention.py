"""The SE attention made visible (issue 12): recorded gates, attention switched off or held at a
mean, checked against models whose gates are forced by hand (fc2 weight 0, a chosen bias)."""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gcam_desktop.explain import explain
from gcam_desktop.explain import attention as A
from gcam_desktop.models.attention import SEGate
from gcam_desktop.models.gates import gates_replaced, recording_gates

from explain_helpers import assert_untouched, snapshot

WIDTHS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
BLOCKS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}


@pytest.fixture(scope="module")
def x32() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def forced(model: nn.Module, bias: float) -> nn.Module:
    """A copy whose every gate outputs sigmoid(bias) for any input: fc2 weight 0, bias `bias`."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for se in (mod for mod in m.modules() if isinstance(mod, SEGate)):
            se.fc2.weight.zero_()
            se.fc2.bias.fill_(bias)
    return m


def test_s_se_has_one_gate_per_stage_and_se_one_per_block(arch_models, x32):
    s_se = A.attention_gates(arch_models["s_se_resnet50"], x32)
    assert list(s_se) == list(WIDTHS)
    assert {k: v.shape for k, v in s_se.items()} == {k: (2, c) for k, c in WIDTHS.items()}
    se = A.attention_gates(arch_models["se_resnet50"], x32)
    expected = [f"{stage}.{i}" for stage, n in BLOCKS.items() for i in range(n)]
    assert list(se) == expected and len(se) == 16
    for name, g in se.items():
        assert g.shape == (2, WIDTHS[name.split(".")[0]]) and g.dtype == torch.float32
    for g in [*se.values(), *s_se.values()]:
        assert float(g.min()) > 0 and float(g.max()) < 1


def test_a_model_without_attention_says_so(arch_models, x32):
    for arch in ("resnet50", "small_cnn"):
        with pytest.raises(ValueError, match="has no attention gates"):
            A.attention_gates(arch_models[arch], x32)
        with pytest.raises(ValueError, match="has no attention gates"):
            explain(arch_models[arch], x32, attention="off")
    assert explain(arch_models["resnet50"], x32, gates=True).gates == {}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["se_resnet50", "s_se_resnet50"])
def test_gates_forced_to_one_give_exactly_attention_off(arch_models, x32, arch):
    model = arch_models[arch]
    before = snapshot(model)
    off = explain(model, x32, "gradcam", attention="off", gates=True)
    assert_untouched(model, before)
    assert off.attention == "off"
    ones = forced(model, 100.0)  # sigmoid(100) is exactly 1.0 in float32
    ref = explain(ones, x32, "gradcam", gates=True)
    assert torch.equal(off.logits, ref.logits) and torch.equal(off.maps, ref.maps)
    assert torch.equal(off.raw, ref.raw)
    assert all(torch.equal(g, torch.ones_like(g)) for g in [*ref.gates.values(), *off.gates.values()])
    on = explain(model, x32, "gradcam")
    assert not torch.allclose(on.logits, off.logits), "switching attention off changed nothing"
    # the model still runs its own attention afterwards: nothing was left switched off
    assert torch.equal(explain(model, x32, "gradcam").logits, on.logits)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["se_resnet50", "s_se_resnet50"])
def test_a_constant_gate_scales_the_residual_branch(arch_models, x32, arch):
    """gate == c everywhere is relu(identity + c * bn3(...)): the same as the attention-off
    model with every gated block's bn3 weight and bias multiplied by c."""
    model = arch_models[arch]
    bias = -0.7
    c = float(torch.sigmoid(torch.tensor(bias)))
    const = forced(model, bias)
    gated = explain(const, x32, "gradcam", gates=True)
    assert all(torch.allclose(g, torch.full_like(g, c)) for g in gated.gates.values())
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for name, mod in scaled.named_modules():
            if name.count(".") == 1 and name.startswith("layer") and hasattr(mod, "bn3"):
                mod.bn3.weight.mul_(c)
                mod.bn3.bias.mul_(c)
    plain = explain(scaled, x32, "gradcam", attention="off")
    assert torch.allclose(gated.logits, plain.logits, rtol=1e-4, atol=1e-5)
    scale = float(gated.raw.abs().max())
    assert scale > 0 and torch.allclose(gated.raw, plain.raw, rtol=1e-3, atol=1e-4 * scale)
    # the same constant given per call to the untouched model: the very same numbers as forcing it
    names = list(A.attention_gates(model, x32))
    per_call = explain(model, x32, "gradcam", attention={n: torch.sigmoid(torch.tensor(bias)) for n in names})
    assert per_call.attention == "custom"
    assert torch.equal(per_call.logits, gated.logits) and torch.equal(per_call.maps, gated.maps)


@pytest.mark.slow
def test_gates_recorded_on_the_way_are_the_ordinary_forwards(arch_models, x32):
    cases = [("se_resnet50", "gradcam", {}), ("s_se_resnet50", "gradcam", {}),
             ("s_se_resnet50", "scorecam", {"max_channels": 2}),  # later forwards see masked copies
             ("s_se_resnet50", "saliency", {})]  # the gradient family: one clean forward for them
    for arch, method, opts in cases:
        model = arch_models[arch]
        direct = A.attention_gates(model, x32)
        ex = explain(model, x32, method, gates=True, **opts)
        assert list(ex.gates) == list(direct)
        for name in direct:
            assert torch.allclose(ex.gates[name], direct[name], atol=1e-6), (arch, method, name)
    plain = explain(model, x32, "gradcam")
    assert plain.gates is None
    assert torch.equal(explain(model, x32, "gradcam", gates=True).maps, plain.maps)


def test_attention_mean_holds_each_gate_at_its_reference_mean(arch_models, x32):
    model = arch_models["s_se_resnet50"]
    means = A.mean_of_gates(model, [x32[:1], x32[1:]])
    both = A.attention_gates(model, x32)
    for name, g in both.items():
        assert torch.allclose(means[name], g.mean(0), atol=1e-6)
    ex = explain(model, x32, attention="mean", gate_means=means, gates=True)
    assert ex.attention == "mean"
    for name, g in ex.gates.items():
        assert torch.allclose(g, means[name].expand_as(g))
    with pytest.raises(ValueError, match="gate_means"):
        explain(model, x32, attention="mean")
    with pytest.raises(ValueError, match="missing: layer4"):
        explain(model, x32, attention={k: v for k, v in means.items() if k != "layer4"})
    with pytest.raises(ValueError, match="1024 channels"):
        explain(model, x32, attention={**means, "layer3": torch.ones(7)})
    with pytest.raises(ValueError, match="attention must be one of"):
        explain(model, x32, attention="half")


def test_reference_means_are_computed_once_and_cached_by_checkpoint(arch_models, tmp_path):
    model = arch_models["se_resnet50"]
    folder = tmp_path / "ref"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"stands for the checkpoint file: only its identity keys the cache")
    meta = {"input_size": 32}
    cache = tmp_path / "cache"
    A._MEANS_CACHE.clear()
    first = A.reference_gate_means(model, meta, folder, checkpoint=ckpt, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and len(first) == 16
    A._MEANS_CACHE.clear()
    # from the file: the same numbers without a forward (a model whose forward would fail)
    again = A.reference_gate_means(model, meta, folder, checkpoint=ckpt, cache_dir=cache)
    assert all(torch.equal(first[k], again[k]) for k in first)
    import os
    os.utime(ckpt, ns=(1, 1))  # a retrained checkpoint: averaged afresh under a new key
    A.reference_gate_means(model, meta, folder, checkpoint=ckpt, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="does not exist"):
        A.reference_gate_means(model, meta, tmp_path / "nowhere")


def test_summary_and_distance_of_hand_made_gates():
    g = torch.tensor([0.1, 0.4, 0.6, 0.95])
    s = A.summarize_gate(g)
    assert s.channels == 4 and s.mean == pytest.approx(0.5125)
    assert s.spread == pytest.approx(float(np.std([0.1, 0.4, 0.6, 0.95])), rel=1e-6)
    assert s.damped == 0.5 and s.kept == 0.25
    same = A.gate_distance(g, g.flip(0))
    assert same.distribution == pytest.approx(0.0, abs=1e-7)  # same values, other channels
    assert same.channelwise == pytest.approx((0.85 + 0.2 + 0.2 + 0.85) / 4)
    assert same.correlation == pytest.approx(-0.9, abs=0.1)
    shifted = A.gate_distance(g, g + 0.05)
    assert shifted.channelwise == pytest.approx(0.05) and shifted.distribution == pytest.approx(0.05)
    assert shifted.correlation == pytest.approx(1.0)
    wide = A.gate_distance(torch.full((4,), 0.5), torch.full((8,), 0.7))
    assert wide.channelwise is None and wide.distribution == pytest.approx(0.2)
    with pytest.raises(ValueError, match="vector of C channel weights"):
        A.summarize_gate(torch.ones(2, 3))


@pytest.mark.slow
def test_one_threads_switch_leaves_another_threads_forward_alone(arch_models, x32):
    """A scope is per thread: while one thread holds attention off, another thread's forward of
    the same model runs with attention, and both scopes leave nothing behind."""
    model = arch_models["se_resnet50"]
    with torch.no_grad():
        on, off = model(x32), None
        with gates_replaced(model, 1.0):
            off = model(x32)
    opened, done = threading.Event(), threading.Event()
    seen = {}

    def switched():
        with torch.no_grad(), gates_replaced(model, 1.0), recording_gates(model) as rec:
            opened.set()
            done.wait(30)
            seen["off"] = model(x32)
        seen["rec"] = rec.gates

    def ordinary():
        opened.wait(30)
        with torch.no_grad():
            seen["on"] = model(x32)
        done.set()

    threads = [threading.Thread(target=switched), threading.Thread(target=ordinary)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert torch.equal(seen["on"], on) and torch.equal(seen["off"], off)
    assert len(seen["rec"]) == 16 and all(float(g.min()) == 1.0 for g in seen["rec"].values())
    with torch.no_grad():
        assert torch.equal(model(x32), on)
    assert math.isfinite(float(on.sum()))


def test_figures_and_files_of_one_images_attention(tmp_path):
    from gcam_desktop.explain.attention_figures import (attention_figures, by_stage, stage_gate,
                                                        write_figures_json, write_gates_npz)

    se = {f"layer{k}.{i}": torch.full((c,), 0.25 + 0.1 * i) for k, c in ((1, 256), (2, 512)) for i in range(3)}
    s_se = {"layer1": torch.full((256,), 0.45), "layer2": torch.linspace(0, 1, 512)}
    assert by_stage(se)["layer2"] == ["layer2.0", "layer2.1", "layer2.2"]
    assert stage_gate(se, "layer2") == "layer2.0" and stage_gate(s_se, "layer2") == "layer2"
    fig = attention_figures({"SE": se, "s_se": s_se}, image="a.png", archs={"SE": "se_resnet50"},
                            extra={"attention_off": {"SE": {"changed": True}}})
    assert fig["models"]["SE"]["arch"] == "se_resnet50" and len(fig["models"]["SE"]["gates"]) == 6
    assert fig["models"]["SE"]["gates"]["layer1.1"]["mean"] == pytest.approx(0.35)
    assert fig["models"]["s_se"]["gates"]["layer2"]["damped"] == pytest.approx(0.5, abs=0.01)
    [l1] = fig["stages"]["layer1"]
    assert (l1["gate_a"], l1["gate_b"]) == ("layer1.0", "layer1") and l1["distribution"] == pytest.approx(0.2)
    assert fig["attention_off"]["SE"]["changed"] is True
    write_figures_json(tmp_path / "f.json", fig)
    import json
    assert json.loads((tmp_path / "f.json").read_text())["stages"]["layer1"][0]["b"] == "s_se"
    write_gates_npz(tmp_path / "g.npz", {"SE": se, "s_se": s_se})
    with np.load(tmp_path / "g.npz") as data:
        assert sorted(data.files) == sorted([f"SE/{n}" for n in se] + ["s_se/layer1", "s_se/layer2"])
        assert np.allclose(data["s_se/layer2"], np.linspace(0, 1, 512))
