"""The names read before torch loads agree with what the registry builds and the engine runs."""

import subprocess
import sys

from gcam_desktop.explain import names as method_names
from gcam_desktop.models import names as arch_names


def test_arch_names_are_what_the_registry_builds():
    from gcam_desktop.models import registry

    assert tuple(registry._BUILDERS) == arch_names.ARCHS
    assert set(arch_names.RESNET_ARCHS) <= set(arch_names.ARCHS)


def test_the_attention_archs_are_the_models_built_with_se_gates():
    from gcam_desktop.models import build_model
    from gcam_desktop.models.gates import gate_modules

    gated = {arch for arch in arch_names.ARCHS if gate_modules(build_model(arch, 2))}
    assert gated == set(arch_names.ATTENTION_ARCHS) == {"se_resnet50", "s_se_resnet50"}
    # SE-ResNet50: one gate per bottleneck block (16); s_se-ResNet50: one per stage (4)
    assert len(gate_modules(build_model("se_resnet50", 2))) == 16
    assert len(gate_modules(build_model("s_se_resnet50", 2))) == 4


def test_every_method_has_a_label_and_every_label_a_method():
    from gcam_desktop.explain.cam_methods import CAM_IMPLS
    from gcam_desktop.explain.gradient_methods import GRADIENT_IMPLS

    assert set(method_names.METHOD_LABELS) == set(method_names.METHODS)
    assert set(CAM_IMPLS) == set(method_names.CAM_METHODS)
    # guided Grad-CAM is composed by the engine from Grad-CAM and guided backprop
    assert set(GRADIENT_IMPLS) | {"guided_gradcam"} == set(method_names.GRADIENT_METHODS)
    assert set(method_names.LAYER_METHODS) <= set(method_names.METHODS)


def test_names_load_without_torch():
    code = ("import sys, gcam_desktop.models.names, gcam_desktop.explain.names, training.config\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_models_are_named_by_what_they_were_picked_by_then_by_architecture():
    from gcam_desktop.models.pretrained_refs import weights_name

    given = ["runs/x/resnet50/best.pt", "runs/x/se_resnet50/best.pt", "imagenet:resnet50", "small_cnn"]
    assert [weights_name(g) for g in given] == ["best", "best", "imagenet_resnet50", "small_cnn"]
    # the trainer's best.pt files are told apart by architecture, not called best and best_2
    assert arch_names.model_names([("resnet50", "best"), ("se_resnet50", "best"), ("resnet50", "imagenet_resnet50")]) \
        == ["best", "se_resnet50", "imagenet_resnet50"]
    assert arch_names.model_names([("resnet50", "best"), ("se_resnet50", "best")]) == ["resnet50", "se_resnet50"]
    # the app's slots, each a name already
    assert arch_names.model_names([("small_cnn", "baseline"), ("small_cnn", "s_se")]) == ["baseline", "s_se"]
    # nothing else tells them apart: numbered
    assert arch_names.model_names([("small_cnn", "a"), ("small_cnn", "a"), ("small_cnn", "a")]) == ["a", "a_2", "a_3"]


def test_gcam_evaluate_names_its_models_with_the_one_rule():
    from gcam_desktop.evaluation.inputs import name_entries

    pairs = [("imagenet:resnet50", "resnet50"), ("a/best.pt", "small_cnn"), ("b/best.pt", "small_cnn")]
    # as gcam-explain names them (it wrote "resnet50", "best", "best'" before)
    assert name_entries(pairs) == ["imagenet_resnet50", "best", "best_2"]
