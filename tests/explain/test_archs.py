"""Every method on the four architectures (64 x 64 inputs, 3 classes: small and fast), and the
identities that tie the methods together on real networks."""

from __future__ import annotations

import pytest
import torch

from gcam_desktop.explain import LAYER_METHODS, METHODS, explain
from gcam_desktop.models import ARCHS

FAST = {"scorecam": {"max_channels": 6, "batch_size": 4}, "smoothgrad": {"samples": 2, "batch_size": 4},
        "integrated_gradients": {"steps": 2, "batch_size": 4},
        "occlusion": {"patch": 32, "stride": 32, "batch_size": 4}, "rise": {"masks": 4, "cell": 16, "batch_size": 4}}
RESNETS = [a for a in ARCHS if a != "small_cnn"]
# The fast tier runs the grid on ResNet50 and small_cnn; the SE variants' cases (their gates under
# every method) are in the full tier.
GRID_ARCHS = [pytest.param(a, marks=pytest.mark.slow) if a in ("se_resnet50", "s_se_resnet50") else a
              for a in ARCHS]


@pytest.mark.parametrize("arch", GRID_ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_every_arch(arch, method, arch_models, images64):
    model = arch_models[arch]
    x = images64[:1]  # one image keeps the matrix fast; batching is tested on its own
    if method == "cam" and arch == "small_cnn":
        with pytest.raises(ValueError, match="'conv2' of small_cnn is not followed by such a head"):
            explain(model, x, method)
        return
    ex = explain(model, x, method, top_k=2, **FAST.get(method, {}))
    n, k = 1, 2
    assert ex.method == method
    assert ex.maps.shape == (n, k, 64, 64) and ex.maps.dtype == torch.float32
    assert torch.isfinite(ex.maps).all() and ex.maps.min() >= 0 and ex.maps.max() <= 1
    assert torch.isfinite(ex.raw).all() and ex.raw.dtype == torch.float32
    if method in LAYER_METHODS and method != "guided_gradcam":
        h = 2 if arch != "small_cnn" else 32  # layer4 at 1/32; small_cnn's conv2 after one pooling
        assert ex.layer == model.default_layer and ex.raw.shape == (n, k, h, h)
    else:
        assert ex.raw.shape == (n, k, 64, 64)
    if not ex.signed:
        assert ex.raw.min() >= 0
    assert ex.classes.shape == (n, k) and ex.classes.dtype == torch.long
    assert torch.equal(ex.classes, ex.logits.topk(2, dim=1).indices)
    assert ex.probs.shape == (n, 3) and torch.allclose(ex.probs.sum(1), torch.ones(n))
    assert not ex.maps.requires_grad and not ex.raw.requires_grad
    # every map with any range spans exactly [0, 1]
    spans = ex.maps.flatten(2).amax(2) - ex.maps.flatten(2).amin(2)
    assert ((spans == 0) | ((spans - 1).abs() < 1e-6)).all()


@pytest.mark.slow
@pytest.mark.parametrize("arch", RESNETS)
def test_cam_is_gradcam_times_positions_at_layer4(arch, arch_models):
    model = arch_models[arch]
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))  # layer4: 3 x 3
    cam = explain(model, x, "cam", top_k=3)
    grad = explain(model, x, "gradcam", top_k=3)
    assert cam.raw.shape[-2:] == (3, 3)
    assert cam.raw.amax() > 0  # a non-trivial comparison
    assert torch.allclose(cam.raw, grad.raw * 9, rtol=1e-4, atol=1e-6)
    assert torch.allclose(cam.maps, grad.maps, atol=1e-5)
    last_block = explain(model, x, "cam", layer="layer4.2", top_k=3)  # the same tensor
    assert torch.allclose(last_block.raw, cam.raw)


def test_cam_refuses_a_layer_not_feeding_the_head(arch_models, images64):
    with pytest.raises(ValueError, match=r"'layer3' of resnet50 is not that layer \(try 'layer4'\)"):
        explain(arch_models["resnet50"], images64, "cam", layer="layer3")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet50", "s_se_resnet50", "small_cnn"])
def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam(arch, arch_models, images64):
    model = arch_models[arch]
    layer = "layer3" if arch != "small_cnn" else "conv1"
    ggc = explain(model, images64, "guided_gradcam", layer=layer, top_k=2)
    gb = explain(model, images64, "guided_backprop", top_k=2)
    gc = explain(model, images64, "gradcam", layer=layer, top_k=2)
    assert ggc.layer == layer
    assert torch.equal(ggc.classes, gc.classes)
    assert torch.allclose(ggc.raw, gb.raw * gc.maps, rtol=1e-4, atol=1e-8)
    assert (gb.raw > 0).any() and (gc.maps > 0).any()


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["layer1", "layer2.3", "layer3.5", "layer4.0"])
def test_intermediate_layers(layer, arch_models, images64):
    model = arch_models["s_se_resnet50"]  # the stage gate spans blocks: blocks must still work
    stride = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}[layer.split(".")[0]]
    ex = explain(model, images64, "gradcam", layer=layer)
    assert ex.raw.shape == (2, 1, 64 // stride, 64 // stride)
    assert torch.isfinite(ex.maps).all()


def test_eigencam_is_class_agnostic(arch_models, images64):
    ex = explain(arch_models["se_resnet50"], images64, "eigencam", top_k=3)
    assert torch.equal(ex.raw[:, 0], ex.raw[:, 1]) and torch.equal(ex.raw[:, 0], ex.raw[:, 2])


def test_scorecam_batching_does_not_change_the_map(arch_models, images64):
    model = arch_models["small_cnn"]
    a = explain(model, images64, "scorecam", max_channels=10, batch_size=3)
    b = explain(model, images64, "scorecam", max_channels=10, batch_size=10)
    assert torch.allclose(a.raw, b.raw, atol=1e-6)


def test_batch_equals_images_one_by_one(arch_models, images64):
    model = arch_models["se_resnet50"]
    both = explain(model, images64, "layercam", layer="layer3", top_k=2)
    for i in range(2):
        one = explain(model, images64[i:i + 1], "layercam", layer="layer3", top_k=2)
        assert torch.allclose(one.raw[0], both.raw[i], rtol=1e-4, atol=1e-6)


def test_scorecam_keeps_its_channels_by_a_defined_order_on_a_one_cell_map(arch_models):
    """At 32 px, layer4 of a ResNet50 is 1 x 1: the per-channel sample variance was NaN (with a
    torch warning) and the channels Score-CAM kept were picked from NaNs."""
    import warnings

    model = arch_models["resnet50"]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the degrees-of-freedom warning fails the test
        ex = explain(model, x, "scorecam", layer="layer4", max_channels=4, batch_size=4)
    assert torch.isfinite(ex.raw).all() and torch.isfinite(ex.maps).all()
