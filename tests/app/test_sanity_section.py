"""The Quality tab's Sanity section: the parameter-randomisation cascade through the tab's real
worker, with real (small) models: curves, strip and badges, cancel, the loaded model untouched,
and the section inside a 1024 x 700 window."""

from __future__ import annotations

import threading

import pytest
import torch
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel

from gcam_desktop.app.quality.sanity_run import SanityItem, summarize
from gcam_desktop.app.quality.sources import QualityModel
from gcam_desktop.app.quality.tab import QualityTab
from gcam_desktop.app.widgets.elided_label import ElidedLabel
from gcam_desktop.explain.sanity import PASS_THRESHOLD
from gcam_desktop.models import build_model, make_meta
from qt_settle import settle

R50_STAGES = ["fc", "layer4", "layer3", "layer2", "layer1", "stem"]


@pytest.fixture
def r50(class_names):
    """A ResNet50 with seeded random weights, at 32 px: small enough for a test, and with the
    layer4 the pass rule needs."""
    torch.manual_seed(0)
    return build_model("resnet50", len(class_names)).eval(), make_meta("resnet50", class_names, input_size=32)


def make_tab(qtbot, sources) -> QualityTab:
    tab = QualityTab(lambda: sources, device="cpu")
    qtbot.addWidget(tab)
    return tab


def run(qtbot, tab, start, timeout=600_000) -> list:
    with qtbot.waitSignal(tab.worker.sanity_finished, timeout=timeout) as done:
        start()
    return done.args


@pytest.mark.slow
def test_cascade_through_the_worker_shows_curves_strip_and_badges_and_leaves_the_model_alone(
        qtbot, r50, checkpoints, image_folder_3cls, class_names):
    model, meta = r50
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cnn_meta = make_meta("small_cnn", class_names, input_size=32)
    tab = make_tab(qtbot, [QualityModel("r50", meta, model=model), QualityModel("cnn", cnn_meta, path=str(checkpoints["a"]))])
    images = sorted(str(p) for p in image_folder_3cls.rglob("*.png"))
    tab.set_folder(images, image_folder_3cls)
    tab.set_image(images[0])  # hidden: the deletion / insertion scoring waits; the check runs anyway
    v = tab.sanity_view
    v.set_methods(["gradcam", "guided_backprop"])
    assert v.methods_button.text() == "Methods (2)"

    assert run(qtbot, tab, v.image_button.click) == [1, False]
    assert v.status.text().startswith("Checked 4") and v.image_button.isEnabled() and not v.cancel_button.isEnabled()
    # curves: one plot per model, one line per method, the original and one point per stage
    assert list(v.curves.plots) == ["r50", "cnn"]
    r50_lines = v.curves.plots["r50"].plotItem.listDataItems()
    assert len(r50_lines) == 2 and all(len(c.yData) == 1 + len(R50_STAGES) for c in r50_lines)
    assert [t for _, t in v.curves.plots["r50"].getAxis("bottom")._tickLevels[0]] == ["orig."] + R50_STAGES
    assert all(len(c.yData) == 1 + 5 for c in v.curves.plots["cnn"].plotItem.listDataItems())  # 5 layers
    # the paper's finding on this seeded random ResNet: Grad-CAM changes, Guided backprop does not
    rows = {(v.table.item(r, 0).text(), v.table.item(r, 1).text()): [v.table.item(r, c).text() for c in (2, 3, 4)]
            for r in range(v.table.rowCount())}
    assert rows[("r50", "Grad-CAM")][1] == "\u2713 pass" and float(rows[("r50", "Grad-CAM")][0]) < PASS_THRESHOLD
    assert rows[("r50", "Guided backprop")][1] == "\u2717 fail"
    assert float(rows[("r50", "Guided backprop")][0]) >= PASS_THRESHOLD
    assert rows[("cnn", "Grad-CAM")][:2] == ["\u2013", "no verdict"]  # no layer4: curves, no verdict
    assert all(r[2] in ("\u2713 explains", "\u2717 same map") for r in rows.values())
    # the strip: Grad-CAM's maps at each step, one row per model, each with its own step names
    assert v.strip_method.currentData() == "gradcam"
    assert [(m, steps[0], len(imgs)) for m, steps, imgs in v.strip.rows] == [("r50", "orig.", 7), ("cnn", "orig.", 6)]
    v.strip_method.setCurrentIndex(1)
    assert v.strip.rows and v.strip.toolTip()
    v.measure_box.setCurrentIndex(v.measure_box.findData("top_iou"))
    ys = [y for c in v.curves.plots["r50"].plotItem.listDataItems() for y in c.yData]
    assert all(0 <= y <= 1 for y in ys) and "IoU" in v.curves.plots["r50"].getAxis("left").labelText

    # the loaded model, and the worker's copy of it, are bit-identical after the run
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    copy = next(e.model for e in tab.worker._copies.values() if e.name == "r50")
    assert all(torch.equal(before[k], t.cpu()) for k, t in copy.state_dict().items())
    assert copy.default_layer == meta["default_layer"] == "layer1"  # explained where the app explains it

    # the summary table over the folder's first images; the curves stay the current image's
    v.set_methods(["gradcam"])
    v.count_box.setValue(2)
    assert run(qtbot, tab, v.folder_button.click) == [2, False]
    assert v.table.rowCount() == 2 and v.table.item(0, 3).text().endswith("/2)")
    assert "first 2 images" in v.table_label.text() and list(v.curves.plots) == ["r50", "cnn"]
    tab.shutdown()


def test_cancel_stops_the_check_and_the_worker_goes_on(qtbot, checkpoints, image_folder_3cls, class_names):
    meta = make_meta("small_cnn", class_names, input_size=32)
    tab = make_tab(qtbot, [QualityModel(n, meta, path=str(checkpoints[k])) for n, k in (("a", "a"), ("b", "b"))])
    images = sorted(str(p) for p in image_folder_3cls.rglob("*.png"))
    tab.set_folder(images, image_folder_3cls)
    v = tab.sanity_view
    v.set_methods(["gradcam", "saliency", "guided_backprop"])
    v.count_box.setValue(len(images))
    total = 2 * 3 * len(images)
    with qtbot.waitSignal(tab.worker.sanity_progress, timeout=120_000):
        v.folder_button.click()
    assert v.running and v.cancel_button.isEnabled() and not v.folder_button.isEnabled()
    with qtbot.waitSignal(tab.worker.sanity_finished, timeout=120_000) as done:
        v.cancel_button.click()
    assert done.args == [1, True]
    assert len(v.items) < total and v.status.text().startswith("Cancelled after")
    assert not v.running and v.folder_button.isEnabled() and tab.worker._sanity is None
    # the worker is free again: the next check runs to the end
    tab.set_image(images[0])
    v.set_methods(["saliency"])
    assert run(qtbot, tab, v.check_image) == [2, False]
    assert v.table.rowCount() == 2 and set(v.curves.plots) == {"a", "b"}
    tab.shutdown()


def test_no_models_or_no_image_says_so(qtbot):
    tab = make_tab(qtbot, [])
    v = tab.sanity_view
    v.check_image()
    assert v.status.text().startswith("No image shown") and not tab.thread_running()
    tab.set_image("/nowhere.png")
    v.check_image()
    assert v.status.text() == "No models loaded" and not v.running and not tab.thread_running()
    assert not v.folder_button.isEnabled()  # no folder
    tab.shutdown()


def test_summary_rows_apply_the_rule_to_the_mean_and_count_images():
    from types import SimpleNamespace as NS

    def item(rho, cls_rho, model="m", method="gradcam"):
        step = NS(stage="layer4", input_res=NS(spearman=rho))
        sanity = NS(after=lambda stage: step.input_res if stage == "layer4" else None)
        sens = NS(explains_the_class=cls_rho < 0.8, input_res=NS(spearman=cls_rho))
        return SanityItem("x.png", model, method, sanity, sens)

    [row] = summarize([item(0.2, 0.1), item(0.7, 0.9), item(0.3, 0.2)])
    assert row.images == 3 and row.passed == 2 and row.verdict == "pass"
    assert row.after_layer4 == pytest.approx(0.4) and row.explains_class == 2
    [row] = summarize([item(0.9, 0.1), SanityItem("y.png", "m", "gradcam", error="m, gradcam: broken")])
    assert row.verdict == "fail" and row.images == 1 and row.errors == ["m, gradcam: broken"]


def _cut(widget) -> list[str]:
    """Visible text widgets of `widget` that need more width than they have (not elided on purpose)."""
    bad = []
    for w in widget.findChildren(QLabel) + widget.findChildren(QAbstractButton) + widget.findChildren(QComboBox):
        if not w.isVisible() or isinstance(w, ElidedLabel) or (isinstance(w, QLabel) and w.wordWrap()):
            continue
        if w.sizeHint().width() > w.width() + 1:
            bad.append(f"{type(w).__name__} {w.text() if hasattr(w, 'text') else w.currentText()!r}: "
                       f"needs {w.sizeHint().width()}, has {w.width()}")
    return bad


@pytest.mark.slow
def test_the_section_fits_a_1024_by_700_window_and_never_blocks_the_compare_tab(
        qtbot, monkeypatch, make_window, load_slot, checkpoints, image_folder_3cls):
    win = make_window()
    for slot, key in (("baseline", "a"), ("SE", "b"), ("s_se", "c")):
        load_slot(win, slot, checkpoints[key])
    win.show_image(str(sorted(image_folder_3cls.rglob("*.png"))[0]))
    qtbot.waitUntil(lambda: win.quality is not None, timeout=10_000)
    win.resize(1024, 700)
    win.tabs.setCurrentWidget(win.quality)
    win.quality.tabs.setCurrentWidget(win.quality.sanity_view)
    v = win.quality.sanity_view
    v.set_methods(["gradcam", "saliency", "guided_backprop"])
    assert run(qtbot, win.quality, v.check_image) == [1, False]
    qtbot.waitUntil(lambda: (win.width(), win.height()) == (1024, 700), timeout=5000)
    settle()
    assert len(v.curves.plots) == 3 and _cut(v) == []
    view_rect = v.rect()
    for plot in v.curves.plots.values():
        # the plot item drawn inside its widget (a long title or legend used to widen it past it)
        assert plot.isVisible() and plot.plotItem.width() <= plot.width() + 1, (plot.plotItem.width(), plot.width())
        assert plot.plotItem.height() <= plot.height() + 1
        assert view_rect.contains(QRect(plot.mapTo(v, QPoint(0, 0)), plot.size()))
    cells = [c for row in v.strip.cells() for c in row]
    assert len(cells) == 3 * 6 and all(v.strip.rect().contains(c) for c in cells)
    assert min(c.width() for c in cells) >= 24  # thumbnails, not specks
    assert v.table.isVisible() and v.table.viewport().height() > 3 * v.table.rowHeight(0)
    # the Compare tab is never blocked: with a sanity unit held mid-way in the Quality worker,
    # another image is explained by every panel (the inference worker is another thread)
    from gcam_desktop.app.quality.sanity_run import SanityRun

    entered, release = threading.Event(), threading.Event()
    check = SanityRun._check

    def held(self, *args):
        entered.set()
        release.wait(60)
        return check(self, *args)

    monkeypatch.setattr(SanityRun, "_check", held)
    other = str(sorted(image_folder_3cls.rglob("*.png"))[5])
    with qtbot.waitSignal(win.quality.worker.sanity_finished, timeout=600_000):
        v.check_image()
        qtbot.waitUntil(entered.is_set, timeout=60_000)
        win.show_image(other)
        res = win.explanations.results
        qtbot.waitUntil(lambda: all(s in res and res[s].request.path == other for s in ("baseline", "SE", "s_se")),
                        timeout=60_000)
        assert v.running and not release.is_set()  # the check still held while the panels were explained
        release.set()
