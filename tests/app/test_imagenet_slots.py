"""ImageNet weights in the slots, models of different class sets side by side, classes by
name, what each model knows, and the slot card's download with progress and Cancel."""

from __future__ import annotations

import hashlib
import os

import pytest

from gcam_desktop.paths import photos_dir

SHAPES = ["cross", "disc", "ring", "square", "star", "triangle"]




@pytest.fixture
def cached_resnet50(r50_bytes):
    """Our own ResNet50 state dict where torchvision keeps IMAGENET1K_V2 (the test's TORCH_HOME)."""
    from gcam_desktop.models.pretrained import source

    path = source("resnet50").cache_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(r50_bytes)
    return path


@pytest.fixture(scope="module")
def shapes_checkpoint(tmp_path_factory):
    """A 6-class synthetic-shapes model, as the demo's are (trained on a synthetic set)."""
    from gcam_desktop.models import build_model, make_meta, save_checkpoint
    from gcam_desktop.paths import samples_dir

    meta = make_meta("small_cnn", SHAPES, input_size=32) | {"data": str(samples_dir() / "images")}
    return save_checkpoint(tmp_path_factory.mktemp("shapes") / "shapes.pt", build_model("small_cnn", 6), meta)


def _wait_results(qtbot, win, slots, check=lambda r: r.ok or r.missing_class):
    res = win.explanations.results
    qtbot.waitUntil(lambda: all(s in res and res[s].request.path == win.explanations.path and check(res[s])
                                for s in slots), timeout=120_000)
    return res


@pytest.mark.slow
def test_imagenet_and_a_six_class_model_side_by_side(qtbot, make_window, load_slot, cached_resnet50,
                                                     shapes_checkpoint, tmp_path):
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    win = make_window()
    load_slot(win, "baseline", "imagenet:resnet50", "resnet50")
    load_slot(win, "SE", shapes_checkpoint, "small_cnn")  # no refusal: any class set goes in
    assert win.slots.states["baseline"].info.meta["num_classes"] == 1000
    card = win.slots.cards["baseline"]
    assert card.meta.text().startswith("1000 classes") and "ImageNet weights" not in card.message.text()
    assert "Licence: BSD-3-Clause" in card.meta.toolTip() and "tench" in card.meta.toolTip()
    win.show_image(str(photos_dir() / "tabby" / "chelsea.png"))
    res = _wait_results(qtbot, win, ("baseline", "SE"), lambda r: r.ok)
    imagenet, shapes = win.view.panels["baseline"], win.view.panels["SE"]
    assert all(row.split(" ")[0] in " ".join(names) for row in imagenet.predictions.texts())
    assert res["baseline"].target_name in names and res["SE"].target_name in SHAPES
    # each panel says what its model knows; the shapes model says the photo is outside its world
    assert imagenet.classes.text() == "1000 classes (ImageNet-1k)" and not imagenet.knows.isVisible()
    assert "tench" in imagenet.classes.toolTip()
    assert shapes.classes.text() == "6 classes" and shapes.knows.isVisible()
    assert "\u201ctabby\u201d, is not one of the 6 classes" in shapes.knows.text()
    assert "trained only on synthetic shapes" in shapes.knows.text() or "another loaded model" in shapes.knows.text()
    assert "True class: <b>tabby</b>" in win.view.original.info.text()

    # "one class for all" by name: the ImageNet model explains it, the other says it lacks it
    c = win.controls
    assert c.target.findData("tabby") > 0 and c.target.findData("disc") > 0  # union of both models
    c.target.setCurrentIndex(c.target.findData("tabby"))
    res = _wait_results(qtbot, win, ("baseline", "SE"), lambda r: r.request.target == "tabby")
    assert res["baseline"].ok and res["baseline"].target_name == "tabby"
    assert res["SE"].missing_class == "tabby" and shapes.map is None
    assert "no class \u201ctabby\u201d in this model (6 classes)" in shapes.subtitle.text()
    assert len(shapes.predictions.rows) == 5  # still its own predictions, not a blank panel

    # difference and agreement only where both explain the same class name
    c.target.setCurrentIndex(c.target.findData(-1))  # own predictions: tabby-ish vs a shape
    _wait_results(qtbot, win, ("baseline", "SE"), lambda r: r.ok and r.request.target == -1)
    c.diff_a.setCurrentIndex(c.diff_a.findData("baseline"))
    c.diff_b.setCurrentIndex(c.diff_b.findData("SE"))
    c.show_diff.setChecked(True)
    assert win.view.diff.map is None and "different classes" in win.view.diff.subtitle.text()
    assert c.agreement.text() == "Agreement \u2014"

    # the ImageNet names reach the exports
    import json

    from gcam_desktop.app.export.comparison import export_raw_maps

    _, side = export_raw_maps(win.export_source, tmp_path / "maps")
    panels = json.loads(side.read_text(encoding="utf-8"))["panels"]
    assert panels["baseline"]["target_name"] in names and panels["SE"]["target_name"] in SHAPES
    assert all(t["class"] in names for t in panels["baseline"]["top5"])


def test_offline_and_uncached_weights_are_refused_in_the_card_at_once(qtbot, make_window):
    win = make_window()
    with qtbot.waitSignal(win.slots.downloader.failed, timeout=15_000) as failed:
        win.slots.load("SE", "imagenet:se_resnet50")
    slot, ref, message = failed.args
    assert slot == "SE" and ref == "imagenet:se_resnet50"
    card = win.slots.cards["SE"]
    text = card.message.text()
    assert text.startswith("imagenet:se_resnet50: not in the cache and cannot be downloaded")
    assert "model.safetensors" in text and "put the file at" in text and "Traceback" not in text
    assert not card.download.isVisible() and win.slots.states["SE"].info is None


@pytest.mark.slow
def test_card_menu_downloads_with_progress_and_cancel(qtbot, make_window, weights_server, monkeypatch):
    body = os.urandom(2_000_000)
    name = f"resnet50-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    monkeypatch.setenv("GCAM_DESKTOP_RESNET50_URL", weights_server.add(f"/models/{name}", body, chunk_delay=0.05))
    win = make_window()
    card = win.slots.cards["baseline"]
    card.menu.aboutToShow.emit()
    action = next(a for a in card.menu.actions() if a.text() == "ImageNet weights (torchvision)")
    assert any(a.text() == "ImageNet weights (timm)" for a in card.menu.actions())
    action.trigger()
    qtbot.waitUntil(lambda: card.download.isVisible() and card.download.value() > 0, timeout=15_000)
    assert "imagenet:resnet50" in card.download.format() and card.cancel.isVisible()
    assert win.slots.states["baseline"].arch == "resnet50"
    with qtbot.waitSignal(win.slots.downloader.cancelled_download, timeout=15_000):
        card.cancel.click()
    assert "cancelled" in card.message.text() and not card.download.isVisible()
    from gcam_desktop.models.pretrained import source

    folder = source("resnet50").cache_path.parent
    assert not folder.exists() or list(folder.iterdir()) == []  # nothing half-downloaded kept


@pytest.mark.slow
def test_a_training_tab_checkpoint_goes_in_whatever_the_other_slots_hold(qtbot, make_window, load_slot,
                                                                         shapes_checkpoint, checkpoints):
    win = make_window()
    load_slot(win, "baseline", shapes_checkpoint)                        # 6 classes
    with qtbot.waitSignal(win.service.worker.model_loaded, timeout=60_000) as loaded:
        win.training.load_checkpoint.emit("small_cnn", str(checkpoints["other_classes"]))  # 5 classes
    info = loaded.args[0]
    assert info.meta["num_classes"] == 5 and info.slot == "SE"  # the first empty slot of its kind
    assert win.slots.states["baseline"].info.meta["num_classes"] == 6


@pytest.mark.slow
def test_the_demo_shows_the_photos_with_imagenet_weights_when_cached(qtbot, make_window, cached_resnet50):
    from gcam_desktop.app.demo import start_demo
    from gcam_desktop.paths import samples_dir

    win = make_window(slots_arch=None)
    with qtbot.waitSignal(win.service.worker.model_loaded, timeout=120_000) as loaded:
        start_demo(win, train_missing=False)
    assert loaded.args[0].slot == "baseline" and loaded.args[0].path == "imagenet:resnet50"
    n = len(list((samples_dir() / "images").rglob("*.png"))) + 3
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)
    assert any(p.endswith("chelsea.png") for p in win.list_model.paths)


def test_without_imagenet_weights_the_demo_stays_offline_and_synthetic(qtbot, make_window, monkeypatch):
    from gcam_desktop.app.demo import DemoLoader, start_demo
    from gcam_desktop.paths import samples_dir

    # The demo's last decision is what to do with the ImageNet weights found; once it has run,
    # every load and folder it will ask for has been asked for (no waiting for "nothing").
    decided, loads, added = [], [], []
    real_found = DemoLoader._imagenet_found

    def found(self, refs):
        real_found(self, refs)
        decided.append(refs)

    monkeypatch.setattr(DemoLoader, "_imagenet_found", found)
    win = make_window(slots_arch=None)
    real_add = win.add_paths

    def add(paths):
        added.append(list(paths))
        real_add(paths)

    monkeypatch.setattr(win, "add_paths", add)
    monkeypatch.setattr(win, "load_checkpoint_for_arch", lambda arch, path: loads.append((arch, path)))
    start_demo(win, train_missing=False)
    qtbot.waitUntil(lambda: bool(decided), timeout=60_000)
    assert decided == [[]] and loads == []
    assert added == [[samples_dir() / "images"]]
    n = len(list((samples_dir() / "images").rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n and not win.scanner.busy(), timeout=10_000)
    assert all(s.info is None for s in win.slots.states.values())


@pytest.mark.slow
def test_a_demo_sized_model_opens_at_its_recorded_default_layer_with_8x8_cells(qtbot, make_window, load_slot,
                                                                                tmp_path):
    from gcam_desktop.models import build_model, make_meta, save_checkpoint
    from gcam_desktop.paths import samples_dir

    path = save_checkpoint(tmp_path / "demo_like.pt", build_model("resnet50", 6), make_meta("resnet50", SHAPES, 64))
    win = make_window(slots_arch=None)
    load_slot(win, "baseline", path, "resnet50")
    assert win.slots.states["baseline"].info.meta["default_layer"] == "layer2"
    assert win.controls.layer.itemText(0) == "Default (layer2)" and win.controls.values().layer == ""
    win.show_image(str(next((samples_dir() / "images" / "disc").glob("*.png"))))
    res = _wait_results(qtbot, win, ("baseline",), lambda r: r.ok)
    assert res["baseline"].layer == "layer2" and res["baseline"].raw.shape == (8, 8)
    assert "layer2" in win.view.panels["baseline"].subtitle.text()


def test_command_line_weights_take_imagenet_refs():
    from gcam_desktop.app.__main__ import parse_args

    args = parse_args(["--weights", "resnet50=imagenet:resnet50", "--weights", "imagenet:se_resnet50"])
    assert args.weights == [("resnet50", "imagenet:resnet50"), ("se_resnet50", "imagenet:se_resnet50")]


@pytest.mark.parametrize("given, says", [
    ("runs/x/best.pt", "'runs/x/best.pt': use ARCH=CHECKPOINT"),
    ("se_resnet50=", "'se_resnet50=': use ARCH=CHECKPOINT"),
    ("vgg16=runs/x/best.pt", "'vgg16' is not an architecture; choose from resnet50, se_resnet50"),
])
def test_command_line_weights_read_as_every_entry_point_reads_them(given, says, capsys):
    from gcam_desktop.app.__main__ import parse_args
    from gcam_desktop.models.pretrained_refs import split_arch_ref

    assert parse_args(["--weights", "s_se_resnet50=a=b.pt"]).weights == [split_arch_ref("s_se_resnet50=a=b.pt")]
    with pytest.raises(SystemExit):
        parse_args(["--weights", given])
    assert says in capsys.readouterr().err
