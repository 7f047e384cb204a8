"""Model-parameter randomisation: stages, seeded re-initialisation on copies, the similarity
measures, and effects known in advance (Eigen-CAM ignores the classifier; the loaded model is
never touched)."""

import numpy as np
import pytest
import torch

from gcam_desktop.explain.sanity import (PASS_STAGE, parameter_randomisation, parameter_stages,
                                         randomise, similarity)
from gcam_desktop.models import build_model


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return build_model("small_cnn", 4).eval()


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, 32, 32, generator=g)


def test_resnet_stages_run_from_the_output_down_with_the_stem_last():
    stages = parameter_stages(build_model("se_resnet50", 3))
    assert [name for name, _ in stages] == ["fc", "layer4", "layer3", "layer2", "layer1", "stem"]
    assert dict(stages)["stem"] == ["conv1", "bn1"]


def test_s_se_stages_keep_each_stage_gate_with_its_stage():
    model = build_model("s_se_resnet50", 3)
    stages = dict(parameter_stages(model))
    assert stages["layer3"] == ["layer3"]
    assert any(name.startswith("se") for name, _ in model.layer3.named_children())


def test_other_models_randomise_each_child_last_first(cnn):
    assert [name for name, _ in parameter_stages(cnn)] == ["fc3", "fc2", "fc1", "conv2", "conv1"]


def test_randomise_is_seeded_touches_only_its_stage_and_keeps_the_callers_random_stream(cnn):
    a, b, c = (build_model("small_cnn", 4) for _ in range(3))
    for m in (a, b, c):
        m.load_state_dict(cnn.state_dict())
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    randomise(a, ["fc3"], seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    randomise(b, ["fc3"], seed=5)
    randomise(c, ["fc3"], seed=6)
    assert torch.equal(a.fc3.weight, b.fc3.weight) and not torch.equal(a.fc3.weight, c.fc3.weight)
    assert not torch.equal(a.fc3.weight, cnn.fc3.weight)
    assert torch.equal(a.fc2.weight, cnn.fc2.weight) and torch.equal(a.conv1[0].weight, cnn.conv1[0].weight)


def test_batchnorm_gets_its_default_state_running_statistics_included():
    model = build_model("resnet50", 3)
    with torch.no_grad():
        model.bn1.running_var.fill_(7.0)
        model.bn1.weight.fill_(3.0)
    randomise(model, ["bn1"], seed=0)
    assert torch.all(model.bn1.running_var == 1) and torch.all(model.bn1.weight == 1)


def test_similarity_of_identical_inverted_and_unrelated_maps():
    rng = np.random.default_rng(0)
    m = torch.from_numpy(rng.random((32, 32)))
    same = similarity(m, m * 5)
    assert same.spearman == pytest.approx(1.0) and same.ssim == pytest.approx(1.0) and same.top_iou == 1.0
    other = similarity(m, torch.from_numpy(rng.random((32, 32))))
    assert abs(other.spearman) < 0.15 and other.top_iou < 0.3 and other.ssim < 0.3
    assert similarity(m, -m).spearman == pytest.approx(1.0)  # absolute maps: the sign is not compared
    assert similarity(m, torch.zeros(32, 32)).spearman == 0.0



@pytest.mark.parametrize("side", [7, 64])
def test_the_prepared_original_gives_scipys_spearman_and_the_metrics_iou(side):
    """The original map is ranked once per method (sanity.Reference): the numbers are still
    scipy's Spearman and metrics.top_region_iou, ties (flat regions) included."""
    from scipy.stats import spearmanr

    from gcam_desktop.explain.metrics import top_region_iou
    from gcam_desktop.explain.sanity import Reference, _unit, compare

    g = torch.Generator().manual_seed(side)
    a = torch.rand(side, side, generator=g)
    a[: side // 3] = 0.0  # a flat third: tied ranks
    ref = Reference(a)
    for _ in range(3):
        b = torch.rand(side, side, generator=g).round(decimals=1)  # more ties
        got = compare(ref, b)
        ua, ub = _unit(a.numpy()), _unit(b.numpy())
        assert got.spearman == pytest.approx(spearmanr(ua.ravel(), ub.ravel()).statistic, abs=1e-12)
        want = float(top_region_iou(torch.from_numpy(ua)[None], torch.from_numpy(ub)[None])[0])
        assert got.top_iou == pytest.approx(want, abs=1e-7)
        assert got == similarity(a, b)
    with pytest.raises(ValueError, match="one size"):
        compare(ref, torch.rand(side + 1, side + 1))

@pytest.mark.slow
def test_eigencam_ignores_the_classifier_and_gradcam_does_not(cnn, image):
    """Eigen-CAM is the first principal component of the layer's activations: randomising only
    the linear head cannot change it, and must change Grad-CAM (which weighs by its gradients)."""
    results = {r.method: r for r in parameter_randomisation(cnn, image, ["eigencam", "gradcam"], seed=0)}
    fc_alone = {r.method: next(s for s in r.independent if s.stage == "fc3") for r in results.values()}
    assert fc_alone["eigencam"].layer_res.spearman == pytest.approx(1.0)
    assert fc_alone["gradcam"].layer_res.spearman < 0.99
    conv1_alone = next(s for s in results["eigencam"].independent if s.stage == "conv1")
    assert conv1_alone.layer_res.spearman < 0.99  # below the layer, the activations do change


@pytest.mark.slow
def test_curves_have_every_step_and_explain_the_original_class(cnn, image):
    results = parameter_randomisation(cnn, image, ["saliency"], seed=0)
    (r,) = results
    assert [s.stage for s in r.cascade] == ["fc3", "fc2", "fc1", "conv2", "conv1"]
    assert r.cascade[-1].randomised == ["fc3", "fc2", "fc1", "conv2", "conv1"]
    assert [s.randomised for s in r.independent] == [["fc3"], ["fc2"], ["fc1"], ["conv2"], ["conv1"]]
    assert r.target == int(cnn(image).argmax(1)[0])
    assert r.cascade[0].map.shape == r.original.shape == (32, 32)
    with pytest.raises(KeyError, match=PASS_STAGE):
        r.after()  # the small CNN has no layer4: the pass rule names the stage it needs


def test_the_loaded_model_is_bit_identical_after_a_run(image):
    torch.manual_seed(0)
    model = build_model("resnet50", 3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    parameter_randomisation(model, image, ["gradcam"], seed=0, independent=False)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training


@pytest.mark.slow
def test_progress_counts_every_explanation_and_cancel_stops(cnn, image):
    seen = []
    parameter_randomisation(cnn, image, ["saliency", "gradcam"], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (20, 20) and len(seen) == 20
    with pytest.raises(InterruptedError):
        parameter_randomisation(cnn, image, ["saliency"], cancelled=lambda: True)


def test_class_sensitivity_compares_the_predicted_and_the_least_likely_class(cnn, image):
    from gcam_desktop.explain.sanity import CLASS_THRESHOLD, class_sensitivity

    (cam, eigen) = class_sensitivity(cnn, image, ["gradcam", "eigencam"])
    probs = torch.softmax(cnn(image), 1)[0]
    assert (cam.predicted, cam.least_likely) == (int(probs.argmax()), int(probs.argmin()))
    # Eigen-CAM never looks at the class: its two maps are the same map, so it fails the test.
    assert eigen.input_res.spearman == pytest.approx(1.0) and not eigen.explains_the_class
    assert cam.explains_the_class == (cam.input_res.spearman < CLASS_THRESHOLD)
    assert cam.input_res.spearman < 0.99


def test_given_originals_are_used_and_must_explain_the_predicted_class(cnn, image):
    from gcam_desktop.explain import explain

    calls = []

    def counting(*args, **kwargs):
        calls.append(args[2])
        return explain(*args, **kwargs)

    given = explain(cnn, image, "gradcam")
    parameter_randomisation(cnn, image, ["gradcam"], independent=False, originals={"gradcam": given},
                            explain_fn=counting)
    assert len(calls) == 5  # one per cascade step; the original was not explained again
    other = int(torch.softmax(cnn(image), 1)[0].argmin())
    with pytest.raises(ValueError, match="not the predicted class"):
        parameter_randomisation(cnn, image, ["gradcam", "saliency"], independent=False,
                                originals={"gradcam": given, "saliency": explain(cnn, image, "saliency", targets=other)})


@pytest.mark.parametrize("layer, size", [("layer3", 32), pytest.param("layer4.2", 96, marks=pytest.mark.slow)])
def test_the_cam_shortcut_gives_the_same_cascade(monkeypatch, layer, size):
    """The CAM methods start a step's forward above the stages that are still the original's
    (sanity_resume): the same maps as the whole forward, and the shortcut is taken."""
    from gcam_desktop.explain import sanity_resume
    from gcam_desktop.models.resnet import ResNet50

    torch.manual_seed(0)
    model = build_model("resnet50", 4).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    starts = []
    forward_from = ResNet50.forward_from
    monkeypatch.setattr(ResNet50, "forward_from", lambda self, k, h: starts.append(k) or forward_from(self, k, h))
    methods = ["gradcam", "eigencam"]
    fast = parameter_randomisation(model, x, methods, layer=layer, seed=0, independent=False)
    stage = int(layer[5])
    # fc and layer4 start at the layer's stage, then each step at the stage it randomised; stem: none
    assert sorted(set(starts)) == list(range(1, stage + 1))
    monkeypatch.setattr(sanity_resume, "RESUMABLE", frozenset())
    slow = parameter_randomisation(model, x, methods, layer=layer, seed=0, independent=False)
    # Equal but for float rounding: two runs of the same cascade differ by an ulp here and there
    # (threaded reductions), which moves the rank correlation of these tiny maps by ~1e-4.
    for a, b in zip(fast, slow):
        for sa, sb in zip(a.cascade, b.cascade):
            np.testing.assert_allclose(sa.map, sb.map, rtol=0, atol=1e-6, err_msg=f"{a.method} {sa.stage}")
            for res in ("input_res", "layer_res"):  # NaN (SSIM of a 2 x 2 map) counts as equal
                got, want = getattr(sa, res).as_dict(), getattr(sb, res).as_dict()
                np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=0, atol=1e-3)


def test_the_cascade_copies_only_what_it_randomises():
    """sharing_copy + own_children: a stage is copied just before it is randomised; the rest
    stays the model's own objects, and the model itself is never written to."""
    from gcam_desktop.explain.sanity import own_children, sharing_copy

    model = build_model("small_cnn", 3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shared = sharing_copy(model)
    assert shared is not model and shared.conv1 is model.conv1 and shared.fc3 is model.fc3
    own_children(shared, model, ["fc3"])
    randomise(shared, ["fc3"], seed=0)
    assert shared.fc3 is not model.fc3 and shared.conv1 is model.conv1
    assert not torch.equal(shared.fc3.weight, model.fc3.weight)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
