"""The Compare tab's method list carries each method's sanity badge (issue 20): passed on every
model checked, failed on at least one, or not checked for the models shown, with the evidence
per model on hover. Real verdicts come from the Quality tab's Sanity section run on a 32-px
ResNet50; a slot that gets another model loses them; the controls still fit 1024 x 700."""

from __future__ import annotations

import math

import pytest
import torch
from PySide6.QtCore import Qt

from gcam_desktop.app.common.sanity_verdicts import MethodBadge, SanityVerdict, VerdictBook, method_badge
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.app.quality.sanity_run import SanityItem, SanityJob, verdict_records
from gcam_desktop.app.quality.sources import QualityModel
from qt_settle import settle


def record(model="A", token="t1", method="gradcam", verdict="pass", rho=0.2, images=("/d/x.png",), asked=1,
           folder="", errors=()) -> SanityVerdict:
    return SanityVerdict(model=model, token=token, method=method, verdict=verdict, after_stage=rho, stage="layer4",
                         threshold=0.5, passed=int(verdict == "pass") * len(images), images=tuple(images),
                         asked=asked, folder=folder, class_images=len(images), explains_class=len(images),
                         class_rho=0.3, class_threshold=0.8, errors=tuple(errors))


def test_a_failure_on_any_model_fails_and_a_model_not_checked_is_named():
    book = VerdictBook()
    book.add([record("A", "t1", "gradcam", "pass", 0.12), record("B", "t2", "gradcam", "fail", 0.71),
              record("A", "t1", "saliency", "pass", 0.05), record("A", "t1", "cam", "no verdict", math.nan)])
    shown = [("A", "t1"), ("B", "t2")]
    badges = book.badges(shown, ["gradcam", "saliency", "cam", "layercam"])
    assert {m: b.state for m, b in badges.items()} == {
        "gradcam": "fail", "saliency": "pass", "cam": "unchecked", "layercam": "unchecked"}
    tip = badges["gradcam"].tooltip
    assert "A: \u2713 pass" in tip and "B: \u2717 fail" in tip
    assert "Spearman after layer4: 0.12 (passes below 0.5)" in tip and "0.71" in tip
    assert "class sensitivity: explains the class (Spearman 0.30, predicted vs least likely class" in tip and "x.png (1 image)" in tip
    # passed for every model checked, and the one not checked says so
    assert "B: not checked for this model" in badges["saliency"].tooltip
    assert "A: no verdict (the model has no layer4)" in badges["cam"].tooltip
    # another model in slot B (a new token): B's verdict no longer applies
    assert book.badges([("A", "t1"), ("B", "t3")], ["gradcam"])["gradcam"].state == "pass"
    # a newer check replaces the older one
    book.add([record("B", "t2", "gradcam", "pass", 0.3)])
    assert book.badges(shown, ["gradcam"])["gradcam"].state == "pass"


def test_the_records_name_the_images_and_n_and_keep_the_models_token():
    from types import SimpleNamespace as NS

    def item(path, rho, model="A"):
        step = NS(stage="layer4", input_res=NS(spearman=rho))
        sanity = NS(after=lambda stage: step.input_res)
        return SanityItem(path, model, "gradcam", sanity, NS(explains_the_class=True, input_res=NS(spearman=0.2)))

    paths = tuple(f"/data/shapes/c{i}/img{i}.png" for i in range(5))
    job = SanityJob(1, paths, ("gradcam",), (QualityModel("A", token="tok-a"), QualityModel("B")), keep_maps=False)
    items = [item(p, 0.1) for p in paths[:4]] + [item(paths[0], 0.9, "B"),
                                                 SanityItem(paths[4], "A", "gradcam", error="A, gradcam: broken")]
    a, b = verdict_records(items, job)
    assert (a.token, a.verdict, a.asked, len(a.images), a.errors) == ("tok-a", "pass", 5, 4, ("A, gradcam: broken",))
    assert b.token is None and b.verdict == "fail"
    book = VerdictBook()
    book.add([a, b])  # a model that is not a slot's (no token) is not kept
    tip = method_badge("gradcam", [("A", book.get("tok-a", "gradcam"))]).tooltip
    assert "4 of 5 images (the first 5 of shapes; the rest not checked): img0.png, img1.png, img2.png, \u2026" in tip
    assert "4 of 4 images pass" in tip and "1 run(s) failed: A, gradcam: broken" in tip


def test_badges_mark_the_items_keep_the_choice_and_change_nothing_else(qtbot):
    controls = Controls({"method": "saliency"})
    qtbot.addWidget(controls)
    controls.set_methods(["gradcam", "saliency", "guided_backprop"])
    # the methods under their family headers (tests/app/test_method_families.py)
    assert [controls.method.itemText(i) for i in range(5)] == ["CAM", "\u00b7 Grad-CAM", "Gradient", "\u00b7 Saliency",
                                                             "\u00b7 Guided backprop"]
    changed = []
    controls.changed.connect(changed.append)
    controls.set_method_badges({"gradcam": MethodBadge("pass", "gradcam evidence"),
                                "guided_backprop": MethodBadge("fail", "gbp evidence")})
    assert [item_text(controls, m) for m in ("gradcam", "saliency", "guided_backprop")] == [
        "\u2713 Grad-CAM", "\u00b7 Saliency", "\u2717 Guided backprop"]
    assert item_tip(controls, "guided_backprop") == "gbp evidence"
    assert "not checked" in item_tip(controls, "saliency")
    assert changed == [] and controls.values().method == "saliency"
    controls.method.setCurrentIndex(controls.method.findData("gradcam"))
    assert controls.method.toolTip().endswith("gradcam evidence")
    controls.set_methods(["gradcam", "saliency", "guided_backprop", "cam"])  # the engine's list again
    assert item_text(controls, "guided_backprop") == "\u2717 Guided backprop"
    assert item_text(controls, "cam") == "\u00b7 CAM"
    assert controls.method.itemText(controls.method.findData("cam") - 1) == "\u2713 Grad-CAM"  # in the CAM family


@pytest.fixture
def r50_checkpoint(tmp_path, class_names):
    """A ResNet50 with seeded random weights at 32 px (the Sanity section's test model): its
    Guided backprop fails; its Grad-CAM usually passes."""
    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    torch.manual_seed(0)
    model = build_model("resnet50", len(class_names)).eval()
    return save_checkpoint(tmp_path / "r50.pt", model, make_meta("resnet50", class_names, input_size=32))


def item_tip(controls, method: str) -> str:
    return controls.method.itemData(controls.method.findData(method), Qt.ItemDataRole.ToolTipRole)


def item_text(controls, method: str) -> str:
    return controls.method.itemText(controls.method.findData(method))


@pytest.mark.slow
def test_real_sanity_results_reach_the_method_list_and_a_new_model_resets_them(
        qtbot, make_window, load_slot, checkpoints, r50_checkpoint, image_folder_3cls):
    win = make_window()
    load_slot(win, "baseline", r50_checkpoint, "resnet50")
    load_slot(win, "SE", checkpoints["a"])  # a small CNN: no layer4, so no verdict
    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    win.show_image(str(image))
    qtbot.waitUntil(lambda: win.quality is not None, timeout=10_000)
    c = win.controls
    assert item_text(c, "gradcam") == "\u00b7 Grad-CAM" and "not checked" in item_tip(c, "gradcam")
    v = win.quality.sanity_view
    v.set_methods(["gradcam", "guided_backprop"])
    with qtbot.waitSignal(win.quality.worker.sanity_finished, timeout=600_000):
        v.check_image()

    rows = {(v.table.item(r, 0).text(), v.table.item(r, 1).text()): v.table.item(r, 2).text()
            for r in range(v.table.rowCount())}
    # Random weights put Grad-CAM's correlation anywhere below Guided backprop's ~1.0, now and
    # then near the threshold: the badge must say what the table says, not a fixed answer.
    passed = float(rows[("baseline (resnet50)", "Grad-CAM")]) < 0.5
    assert item_text(c, "gradcam") == ("\u2713 Grad-CAM" if passed else "\u2717 Grad-CAM")
    assert item_text(c, "guided_backprop") == "\u2717 Guided backprop"
    assert item_text(c, "saliency") == "\u00b7 Saliency"  # not checked
    tip = item_tip(c, "gradcam")
    assert ("baseline (resnet50): \u2713 pass" if passed else "baseline (resnet50): \u2717 fail") in tip
    assert f"Spearman after layer4: {rows[('baseline (resnet50)', 'Grad-CAM')]} (passes below 0.5)" in tip
    assert "class sensitivity:" in tip and f"measured on {image.name} (1 image)" in tip
    assert "SE (small_cnn): no verdict (the model has no layer4)" in tip
    assert "baseline (resnet50): \u2717 fail" in item_tip(c, "guided_backprop")

    # another model in the baseline slot: its verdicts no longer apply
    load_slot(win, "baseline", checkpoints["b"])
    assert item_text(c, "guided_backprop") == "\u00b7 Guided backprop"
    assert "baseline (small_cnn): not checked for this model" in item_tip(c, "guided_backprop")
    assert item_text(c, "gradcam") == "\u00b7 Grad-CAM"  # the small CNN's check gives no verdict


def test_the_badged_method_box_still_fits_1024_by_700(qtbot, make_window, load_slot, checkpoints, image_folder_3cls):
    win = make_window()
    for slot, key in (("baseline", "a"), ("SE", "b"), ("s_se", "c")):
        load_slot(win, slot, checkpoints[key])
    win.show_image(str(sorted(image_folder_3cls.rglob("*.png"))[0]))
    win.controls.set_method_badges({"integrated_gradients": MethodBadge("fail", "evidence")})
    win.controls.method.setCurrentIndex(win.controls.method.findData("integrated_gradients"))
    win.resize(1024, 700)
    qtbot.waitUntil(lambda: (win.width(), win.height()) == (1024, 700), timeout=5000)
    settle()
    box = win.controls.method
    assert box.currentText() == "\u2717 Integrated Gradients"
    assert box.fontMetrics().horizontalAdvance(box.shown_text()) <= box.field_width()
    assert box.shown_text().startswith("\u2717")  # the badge is never what is elided
    if box.is_elided():
        assert box.currentText() in box.toolTip() and "evidence" in box.toolTip()
    assert win.minimumSizeHint().width() <= 1000
