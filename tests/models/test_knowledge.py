"""What a model knows, by class name, and the plain statements about pictures outside it."""

import shutil

from gcam_desktop.models import knowledge as K
from gcam_desktop.models.meta import make_meta
from gcam_desktop.paths import demo_checkpoint, photos_dir, samples_dir

SHAPES = ["cross", "disc", "ring", "square", "star", "triangle"]


def _imagenet_like():
    return make_meta("resnet50", ["tench", "tabby", "espresso", "missile"], 224)


def test_classes_by_name_and_their_union():
    shapes, imnet = make_meta("small_cnn", SHAPES, 64), _imagenet_like()
    assert K.class_index(imnet, "tabby") == 1 and K.class_index(imnet, "Tabby") == 1
    assert K.class_index(shapes, "tabby") is None
    assert K.union_of_classes([shapes, imnet]) == SHAPES + ["tench", "tabby", "espresso", "missile"]
    head, tip = K.describe_classes(imnet | {"dataset": "ImageNet-1k"}, shown=2)
    assert head == "4 classes (ImageNet-1k)" and tip == "This model knows 4 classes: tench, tabby, \u2026 (2 more)"


def test_a_photo_is_outside_a_synthetic_models_world(tmp_path):
    synth_data = samples_dir() / "images"
    shapes = make_meta("resnet50", SHAPES, 64) | {"data": str(synth_data)}
    imnet = _imagenet_like()
    cat = photos_dir() / "tabby" / "chelsea.png"
    disc = next((samples_dir() / "images" / "disc").glob("*.png"))
    note = K.outside_world(shapes, cat, [imnet])
    assert note.startswith("This picture's folder, \u201ctabby\u201d, is not one of the 6 classes")
    assert K.outside_world(imnet, cat, [shapes]) is None  # the ImageNet model knows tabby
    assert K.outside_world(shapes, disc, [imnet]) is None  # a synthetic sample, a known class
    note = K.outside_world(shapes, cat, [])  # no other model knows the folder: still synthetic-only
    assert note.startswith("This model was trained only on synthetic shapes (cross, disc")
    # the ImageNet model on a synthetic disc: folder unknown to it but known to the other model
    assert "\u201cdisc\u201d, is not one of the 4 classes" in K.outside_world(imnet, disc, [shapes])


def test_the_installed_demo_checkpoint_counts_as_synthetic_even_without_its_data(tmp_path):
    meta = make_meta("resnet50", SHAPES, 64) | {"data": str(tmp_path / "gone")}
    assert not K.is_synthetic_model(meta, str(tmp_path / "mine.pt"))
    assert K.is_synthetic_model(meta, str(demo_checkpoint("resnet50")))
    plain = tmp_path / "holiday" / "cat.png"
    plain.parent.mkdir()
    shutil.copy(photos_dir() / "tabby" / "chelsea.png", plain)
    assert "synthetic shapes" in K.outside_world(meta, plain, [], checkpoint=str(demo_checkpoint("resnet50")))
    assert K.outside_world(meta, plain, [], checkpoint=str(tmp_path / "mine.pt")) is None
