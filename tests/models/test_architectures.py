import threading

import pytest
import torch
import torch.nn.functional as F

from gcam_desktop.models import ARCHS, build_model, get_layer
from gcam_desktop.models.attention import reduced_channels

RESNETS = ("resnet50", "se_resnet50", "s_se_resnet50")


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {a: build_model(a, 12).eval() for a in ARCHS}


@pytest.mark.slow
@pytest.mark.parametrize("size", [32, 128, 224])
@pytest.mark.parametrize("arch", ARCHS)
def test_output_shape(models, arch, size):
    with torch.no_grad():
        out = models[arch](torch.randn(2, 3, size, size))
    assert out.shape == (2, 12)
    assert torch.isfinite(out).all()


def test_small_cnn_takes_odd_sizes(models):
    with torch.no_grad():
        assert models["small_cnn"](torch.randn(1, 3, 37, 53)).shape == (1, 12)


@pytest.mark.parametrize("arch,count", [
    ("resnet50", 23_532_620), ("se_resnet50", 26_063_612), ("s_se_resnet50", 24_233_020),
])
def test_parameter_counts(models, arch, count):
    assert sum(p.numel() for p in models[arch].parameters()) == count


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match="resnet50.*se_resnet50.*s_se_resnet50.*small_cnn"):
        build_model("vgg16", 3)


def test_torchvision_resnet50_loads_strictly():
    import torchvision

    reference = torchvision.models.resnet50(num_classes=7)
    ours = build_model("resnet50", 7)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval(), reference.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.slow
def test_timm_seresnet50_loads_strictly():
    import timm

    reference = timm.create_model("seresnet50", num_classes=12, pretrained=False).eval()
    ours = build_model("se_resnet50", 12).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("channels,expected", [(256, 16), (512, 32), (1024, 64), (2048, 128), (64, 8)])
def test_reduced_channels(channels, expected):
    assert reduced_channels(channels) == expected


def test_se_block_matches_hand_computation(models):
    block = models["se_resnet50"].layer2[1]
    x = torch.randn(2, 512, 8, 8)
    with torch.no_grad():
        u = block.bn3(block.conv3(F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))))
        z = u.mean(dim=(2, 3))                               # squeeze: N x C
        w1, b1 = block.se.fc1.weight[:, :, 0, 0], block.se.fc1.bias
        w2, b2 = block.se.fc2.weight[:, :, 0, 0], block.se.fc2.bias
        s = torch.sigmoid(F.relu(z @ w1.T + b1) @ w2.T + b2)  # excitation: N x C
        expected = F.relu(u * s[:, :, None, None] + x)
        assert torch.allclose(block(x), expected, atol=1e-5)


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _gate(u, se):
    z = u.mean(dim=(2, 3))
    h = F.relu(z @ se.fc1.weight[:, :, 0, 0].T + se.fc1.bias)
    return torch.sigmoid(h @ se.fc2.weight[:, :, 0, 0].T + se.fc2.bias)[:, :, None, None]


def _reference_s_se(model, x):
    """s_se-ResNet50 written out with functional ops: one gate per stage, from block 0."""
    x = F.max_pool2d(F.relu(_bn(F.conv2d(x, model.conv1.weight, stride=2, padding=3), model.bn1)), 3, 2, 1)
    for k in range(1, 5):
        stage = getattr(model, f"layer{k}")
        gate = None
        for block in stage.blocks():
            stride = block.conv2.stride
            out = F.relu(_bn(F.conv2d(x, block.conv1.weight), block.bn1))
            out = F.relu(_bn(F.conv2d(out, block.conv2.weight, stride=stride, padding=1), block.bn2))
            out = _bn(F.conv2d(out, block.conv3.weight), block.bn3)
            if gate is None:
                gate = _gate(out, stage.se)
            identity = x
            if block.downsample is not None:
                identity = _bn(F.conv2d(x, block.downsample[0].weight, stride=stride), block.downsample[1])
            x = F.relu(out * gate + identity)
    x = x.mean(dim=(2, 3))
    return x @ model.fc.weight.T + model.fc.bias


def test_s_se_matches_hand_written_reference(models):
    model = models["s_se_resnet50"]
    # Randomise BN statistics so a wrongly placed gate cannot hide behind identity BNs.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), _reference_s_se(model, x), atol=1e-4, rtol=1e-4)


def test_s_se_runs_each_stage_attention_exactly_once(models):
    model = models["s_se_resnet50"]
    calls = []
    handles = [getattr(model, f"layer{k}").se.register_forward_hook(lambda m, i, o, k=k: calls.append(k))
               for k in range(1, 5)]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 64, 64))
            assert calls == [1, 2, 3, 4]
            model(torch.randn(1, 3, 64, 64))
            assert calls == [1, 2, 3, 4] * 2
    finally:
        for h in handles:
            h.remove()
    # One SE module per stage, none in the blocks.
    se_modules = [n for n, _ in model.named_modules() if n.endswith(".se")]
    assert se_modules == ["layer1.se", "layer2.se", "layer3.se", "layer4.se"]


def test_s_se_holds_no_state_between_calls(models):
    model = models["s_se_resnet50"]
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    for name, module in model.named_modules():
        own = set(dict(module.named_parameters(recurse=False))) | set(dict(module.named_buffers(recurse=False)))
        stray = [k for k, v in vars(module).items() if isinstance(v, torch.Tensor) and k not in own]
        assert not stray, f"{name} keeps tensors {stray} after a forward pass"


def test_s_se_is_safe_with_two_threads(models):
    model = models["s_se_resnet50"]
    xs = [torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.no_grad():
        expected = [model(x) for x in xs]
    results, errors = {}, []

    def run(i):
        try:
            with torch.no_grad():
                for _ in range(3):
                    results[i] = model(xs[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    for i in range(2):
        assert torch.allclose(results[i], expected[i], atol=1e-5)


@pytest.mark.parametrize("arch", RESNETS)
def test_resnet_explainable_layers(models, arch):
    model = models[arch]
    assert model.default_layer == "layer4"
    assert {"layer1", "layer2", "layer3", "layer4", "layer4.2", "layer3.5"} <= set(model.explainable_layers)
    assert get_layer(model, "layer4.2") is model.layer4[2]
    with pytest.raises(ValueError, match="valid layers: .*layer4"):
        get_layer(model, "layer5")


def test_small_cnn_explainable_layers(models):
    model = models["small_cnn"]
    assert model.explainable_layers == ("conv1", "conv2") and model.default_layer == "conv2"
    assert isinstance(get_layer(model, "conv2")[0], torch.nn.Conv2d)
    # Two convolutions, two poolings, three linear layers.
    mods = list(model.modules())
    assert sum(isinstance(m, torch.nn.Conv2d) for m in mods) == 2
    assert sum(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AdaptiveMaxPool2d)) for m in mods) == 2
    assert sum(isinstance(m, torch.nn.Linear) for m in mods) == 3
