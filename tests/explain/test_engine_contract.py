"""The engine's promises: clear errors, a model left exactly as found (also after an error),
a backward that stops at the target layer, and nothing leaking into other threads."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from gcam_desktop.explain import CAM_METHODS, GRADIENT_METHODS, LAYER_METHODS, METHODS, explain
from gcam_desktop.explain.names import METHOD_FAMILIES, PERTURBATION_METHODS, PROPAGATION_METHODS
from gcam_desktop.explain.model_state import LayerCapture, guided_relus
from gcam_desktop.models import build_model

from explain_helpers import GapHead, assert_untouched, snapshot

W = torch.tensor([[1.0, -1.0], [0.0, 2.0], [-1.0, 1.0]])
FAST = {"scorecam": {"max_channels": 4}, "smoothgrad": {"samples": 2},
        "integrated_gradients": {"steps": 2},
        # small enough for the 4 x 4 images of the failing model, and quick at 32 px
        "occlusion": {"patch": 2, "stride": 2, "batch_size": 3}, "rise": {"masks": 4, "cell": 2, "batch_size": 2}}


def test_method_lists():
    assert set(METHODS) == set(CAM_METHODS) | set(GRADIENT_METHODS) | set(PROPAGATION_METHODS) | set(
        PERTURBATION_METHODS)
    assert len(METHODS) == 17 and not set(CAM_METHODS) & set(GRADIENT_METHODS)
    assert {"lrp", "deeplift"} == set(PROPAGATION_METHODS) and {"occlusion", "rise"} == set(PERTURBATION_METHODS)
    families = [set(methods) for _, methods in METHOD_FAMILIES]
    assert set(METHODS) == set().union(*families) and len(METHODS) == sum(map(len, families))
    assert "lrp" in PROPAGATION_METHODS
    assert {"gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam", "eigencam",
            "cam"} == set(CAM_METHODS)
    assert {"saliency", "guided_backprop", "guided_gradcam", "smoothgrad",
            "integrated_gradients"} == set(GRADIENT_METHODS)
    assert set(LAYER_METHODS) == set(CAM_METHODS) | {"guided_gradcam"}


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(0)
    return build_model("small_cnn", 4).eval()


@pytest.fixture(scope="module")
def x32():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_unknown_method_lists_the_valid_ones(small_cnn, x32):
    with pytest.raises(ValueError) as err:
        explain(small_cnn, x32, "grad-cam")
    assert "'grad-cam'" in str(err.value) and all(m in str(err.value) for m in METHODS)


def test_unknown_layer_lists_the_valid_ones(small_cnn, x32):
    with pytest.raises(ValueError) as err:
        explain(small_cnn, x32, "gradcam", layer="layer4")
    assert "'layer4'" in str(err.value) and "conv1" in str(err.value) and "conv2" in str(err.value)


@pytest.mark.parametrize("targets", [4, -1, [0, 7], [[0, 1], [2, 9]]])
def test_class_out_of_range_names_the_range(small_cnn, x32, targets):
    with pytest.raises(ValueError, match=r"0\.\.3 \(4 classes\)"):
        explain(small_cnn, x32, "gradcam", targets=targets)


@pytest.mark.parametrize("kwargs, message", [
    ({"top_k": 5}, "more than the model's 4 classes"),
    ({"top_k": 0}, "at least 1"),
    ({"top_k": 2, "targets": 1}, "not both"),
    ({"targets": [0, 1, 2]}, "3 targets for 2 images"),
    ({"targets": 1.5}, "integers"),
    ({"samples": 3}, "gradcam takes no option 'samples'"),
])
def test_bad_requests(small_cnn, x32, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain(small_cnn, x32, "gradcam", **kwargs)


def test_bad_images(small_cnn):
    with pytest.raises(ValueError, match="float tensor"):
        explain(small_cnn, torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="float tensor"):
        explain(small_cnn, [[0.0]])
    single = explain(small_cnn, torch.zeros(3, 32, 32))  # one image without a batch axis
    assert single.maps.shape == (1, 1, 32, 32)


def test_method_options_are_checked(small_cnn, x32):
    with pytest.raises(ValueError, match="samples"):
        explain(small_cnn, x32, "smoothgrad", sample=3)
    with pytest.raises(ValueError, match="steps >= 1"):
        explain(small_cnn, x32, "integrated_gradients", steps=0)
    with pytest.raises(ValueError, match="baseline"):
        explain(small_cnn, x32, "integrated_gradients", baseline="blurred")


@pytest.mark.parametrize("method", METHODS)
def test_model_left_untouched(method, small_cnn, x32):
    model = build_model("small_cnn", 4)
    model.load_state_dict(small_cnn.state_dict())
    model.train()  # a mixed state: training, one submodule in eval, some parameters frozen
    model.conv1[0].eval()
    model.fc1.weight.requires_grad_(False)
    before = snapshot(model)
    if method == "cam":
        with pytest.raises(ValueError, match="global-average-pool"):
            explain(model, x32, method)
    else:
        explain(model, x32, method, top_k=2, **FAST.get(method, {}))
    assert_untouched(model, before)


@pytest.mark.parametrize("method", ["gradcam", "scorecam", "guided_gradcam", "saliency",
                                    "guided_backprop", "smoothgrad", "integrated_gradients",
                                    "deeplift", "occlusion", "rise", "lrp"])
def test_model_left_untouched_when_it_raises(method):
    class Failing(GapHead):
        def forward(self, x):
            out = super().forward(x)
            if self.fail_after is not None:
                self.fail_after -= 1
                if self.fail_after < 0:
                    raise RuntimeError("boom")
            return out

    several_forwards = method in ("scorecam", "guided_gradcam", "smoothgrad", "integrated_gradients",
                                  "occlusion", "rise")
    # fail in the first forward, in a later one, or by a bad class index after the forward
    for fail_after in (0, 1, None) if several_forwards else (0, None):
        model = Failing(W)
        model.fail_after = fail_after
        model.train()
        before = snapshot(model)
        x = torch.rand(2, 3, 4, 4)
        with pytest.raises((RuntimeError, ValueError)):
            explain(model, x, method, targets=5 if fail_after is None else None, **FAST.get(method, {}))
        assert_untouched(model, before)


def test_the_graph_starts_at_the_target_layer():
    """Before the layer nothing records a graph; no gradient flows below it."""
    seen = []

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            seen.append("backward below the layer")
            return g

    class Net(GapHead):
        def forward(self, x):
            x = Probe.apply(x)
            a = self.features(x)
            seen.append(("features output requires grad", a.requires_grad))
            return self.fc(self.pool(a).mean((2, 3)))

    net = Net(W)
    x = torch.rand(1, 3, 4, 4)
    for method in ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam"):
        seen.clear()
        explain(net, x, method, layer="pool", top_k=3)
        assert seen == [("features output requires grad", False)], method
    seen.clear()
    explain(net, x, "saliency")  # the gradient methods do go down to the input
    assert "backward below the layer" in seen


@pytest.mark.slow
def test_resnet_layers_before_the_target_run_without_a_graph(arch_models, images64):
    model = arch_models["se_resnet50"]
    flags = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, i, o, name=name: flags.__setitem__(name, o.requires_grad)) for name in ("layer3", "layer4")]
    try:
        explain(model, images64, "gradcam", layer="layer4")
    finally:
        for h in hooks:
            h.remove()
    # layer3 ran without a graph; layer4's own output is the plain tensor the hook then swaps
    assert flags == {"layer3": False, "layer4": False}


def test_capture_ignores_other_threads():
    model = GapHead(W)
    model.requires_grad_(False)  # so only an injected leaf could make an output need a gradient
    x = torch.rand(1, 3, 4, 4)
    outputs = {}
    with LayerCapture(model.pool, "pool", start_graph=True) as cap:
        t = threading.Thread(target=lambda: outputs.__setitem__("other", model(x)))
        t.start()
        t.join()
        assert cap.activation is None  # the other thread's forward was left alone
        assert not outputs["other"].requires_grad
        model(x)
        assert cap.activation is not None and cap.activation.requires_grad


def test_guided_relus_do_not_reach_other_threads():
    relu_net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        relu_net[0].weight.copy_(torch.eye(2))
        relu_net[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([[1.0, 2.0]])

    def grad():
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(relu_net(xi).sum(), xi)
        return g

    result = {}
    with guided_relus():
        guided = grad()
        t = threading.Thread(target=lambda: result.__setitem__("other", grad()))
        t.start()
        t.join()
    assert guided.tolist() == [[1.0, 0.0]]  # the negative gradient is stopped at the ReLU
    assert result["other"].tolist() == [[1.0, -1.0]]  # plain backprop in the other thread
    assert grad().tolist() == [[1.0, -1.0]]  # and here, once the block is left


def test_concurrent_explanations_of_one_model_agree(arch_models, images64):
    model = arch_models["s_se_resnet50"]
    flags = [p.requires_grad for p in model.parameters()]
    reference = explain(model, images64, "gradcam", top_k=2).raw
    results, errors = [], []

    def work():
        try:
            for _ in range(2):
                results.append(explain(model, images64, "gradcam", top_k=2).raw)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6 and all(torch.allclose(r, reference, atol=1e-5) for r in results)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_a_callers_grad_mode_and_graph_do_not_matter(small_cnn, x32):
    ref = explain(small_cnn, x32, "gradcam").raw
    ref_saliency = explain(small_cnn, x32, "saliency").raw
    assert ref.amax() > 0 and ref_saliency.amax() > 0
    with torch.no_grad():
        assert torch.allclose(explain(small_cnn, x32, "gradcam").raw, ref)
        assert torch.allclose(explain(small_cnn, x32, "saliency").raw, ref_saliency)
    xg = x32.clone().requires_grad_(True)
    ex = explain(small_cnn, xg, "gradcam")
    assert torch.allclose(ex.raw, ref) and xg.grad is None and not ex.maps.requires_grad


@pytest.mark.slow
def test_a_plain_torchvision_model_works_by_module_name():
    """Models without `explainable_layers` (e.g. torchvision's) take any submodule's name."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5).eval()
    x = torch.randn(1, 3, 64, 64)
    before = snapshot(model)
    with pytest.raises(ValueError, match="names no default layer.*layer4"):
        explain(model, x, "gradcam")
    with pytest.raises(ValueError, match="unknown layer 'layer9'"):
        explain(model, x, "gradcam", layer="layer9")
    cam = explain(model, x, "cam", layer="layer4", top_k=2)
    grad = explain(model, x, "gradcam", layer="layer4", top_k=2)
    assert torch.allclose(cam.raw, grad.raw * 4, rtol=1e-4, atol=1e-6)  # layer4: 2 x 2
    gb = explain(model, x, "guided_backprop")
    assert gb.maps.shape == (1, 1, 64, 64) and gb.raw.amax() > 0
    assert_untouched(model, before)
