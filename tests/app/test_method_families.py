"""Issue 21 in the app: the method box grouped by family, the options row of the methods whose
options set their cost (occlusion, RISE), their progress on the panels and their stop when the
panel moves on, and the Families tab's two maps with their agreement (checked against the
engine's maps, top_region_iou and scipy's spearmanr computed here directly)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel

from gcam_desktop.app.compare.controls import COST_OPTIONS, Controls
from gcam_desktop.explain.names import METHOD_FAMILIES, METHODS


def test_the_method_box_groups_the_methods_by_family_under_headers_that_cannot_be_chosen(qtbot):
    controls = Controls({"method": "gradcam"})
    qtbot.addWidget(controls)
    controls.set_methods(list(METHODS))
    box = controls.method
    texts = [box.itemText(i) for i in range(box.count())]
    # each family's header (no data), then its methods, in METHOD_FAMILIES' order
    assert [box.itemData(i) or texts[i] for i in range(box.count())] == [
        x for label, members in METHOD_FAMILIES if members for x in (label, *members)]
    assert sum(1 for _, members in METHOD_FAMILIES if members) >= 2
    model = box.model()
    assert isinstance(model, QStandardItemModel)
    for i in range(box.count()):
        header = box.itemData(i) is None
        flags = model.item(i).flags()
        assert bool(flags & Qt.ItemFlag.ItemIsEnabled) is not header, texts[i]
        assert model.item(i).font().bold() is header
    # every method sits under its family's header
    family_of = {m: label for label, members in METHOD_FAMILIES for m in members}
    header = None
    for i in range(box.count()):
        if box.itemData(i) is None:
            header = texts[i]
        else:
            assert family_of[box.itemData(i)] == header
    # the keys step over a header: Down from the CAM family's last lands on the Gradient family's first
    box.setCurrentIndex(box.findData(METHOD_FAMILIES[0][1][-1]))
    qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.currentData() == METHOD_FAMILIES[1][1][0]
    assert controls.values().method == METHOD_FAMILIES[1][1][0]


def _engine_options() -> dict:
    from gcam_desktop.explain.engine import method_options

    return {m: method_options(m) for m in METHODS}


def test_the_options_row_is_shown_for_the_costly_methods_only(qtbot):
    controls = Controls({"method": "gradcam", "method_options": {"occlusion": {"stride": 3}}})
    qtbot.addWidget(controls)
    controls.show()
    defaults = _engine_options()
    controls.set_method_options(defaults)
    controls.set_methods(list(METHODS))
    assert set(COST_OPTIONS) <= set(METHODS)
    for method in METHODS:
        controls.method.setCurrentIndex(controls.method.findData(method))
        shown = controls.options_row.isVisible()
        assert shown is (method in COST_OPTIONS), method
        if shown:
            assert set(controls.option_fields) == {name for name, *_ in COST_OPTIONS[method]}
    # the remembered value is shown; a default is not sent (the cache key stays the CLI's)
    controls.method.setCurrentIndex(controls.method.findData("occlusion"))
    assert controls.option_fields["stride"].value() == 3
    assert controls.option_fields["patch"].value() == defaults["occlusion"]["patch"]
    assert controls.options_for("occlusion") == {"stride": 3}
    controls.option_fields["patch"].setValue(defaults["occlusion"]["patch"] + 2)
    assert controls.options_for("occlusion") == {"stride": 3, "patch": defaults["occlusion"]["patch"] + 2}
    assert controls.values().method_options == {"occlusion": {"stride": 3, "patch": defaults["occlusion"]["patch"] + 2}}
    controls.method.setCurrentIndex(controls.method.findData("rise"))
    assert controls.options_for("rise") == {} and set(controls.option_fields) == {"masks"}


def _r50(folder, class_names, size: int):
    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    torch.manual_seed(0)
    model = build_model("resnet50", len(class_names)).eval()
    return save_checkpoint(folder / f"r50_{size}.pt", model, make_meta("resnet50", class_names, input_size=size))


@pytest.fixture
def r50_64(tmp_path, class_names):
    """A ResNet50 with seeded random weights at the demo models' 64 px."""
    return _r50(tmp_path, class_names, 64)


@pytest.fixture
def r50_32(tmp_path, class_names):
    return _r50(tmp_path, class_names, 32)


def _choose(combo, data) -> None:
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_a_long_method_shows_its_progress_and_stops_when_the_panel_moves_on(
        qtbot, make_window, load_slot, r50_64, image_folder_3cls):
    win = make_window()
    load_slot(win, "baseline", r50_64, "resnet50")
    win.slots.cards["SE"].enabled.setChecked(False)
    win.slots.cards["s_se"].enabled.setChecked(False)
    images = sorted(image_folder_3cls.rglob("*.png"))
    c = win.controls
    _choose(c.method, "occlusion")
    assert c.options_row.isVisible()
    assert win.minimumSizeHint().height() <= 700   # the row still lets the window fit 1024 x 700
    c.option_fields["patch"].setValue(8)
    c.option_fields["stride"].setValue(1)        # 57 x 57 patches: many seconds on this CPU
    started, answered = [], []
    win.service.worker.started_request.connect(started.append)
    win.service.result_ready.connect(answered.append)
    win.show_image(str(images[0]))
    panel = win.view.panels["baseline"]
    qtbot.waitUntil(lambda: panel.progress.isVisible() and panel.status.text().endswith("%"), timeout=120_000)
    running = next(r for r in started if r.method == "occlusion")
    assert dict(running.options) == {"patch": 8, "stride": 1}    # the row's values reached the request
    assert 0 <= int(panel.status.text().split()[0]) < 100
    assert panel.subtitle.text().startswith("Occlusion")   # not the last map's caption
    # moving on: another image stops it; its result is dropped, not shown as an error
    win.show_image(str(images[1]))
    qtbot.waitUntil(lambda: win.service.worker.cancelled_calls == 1, timeout=60_000)
    qtbot.waitUntil(lambda: any(r.method == "occlusion" and r.path == str(images[1]) for r in started)
                    and panel.progress.isVisible(), timeout=120_000)
    # and another method stops the second image's
    _choose(c.method, "gradcam")
    qtbot.waitUntil(lambda: panel.map is not None and win.explanations.results.get("baseline") is not None
                    and win.explanations.results["baseline"].request.method == "gradcam", timeout=60_000)
    qtbot.waitUntil(win.service.idle, timeout=60_000)
    assert panel.status.text() != "error" and not panel.progress.isVisible()
    assert running.key not in win.service.cache
    assert not any(r.request.method == "occlusion" for r in answered)   # no panel was told of them
    assert win.service.worker.cancelled_calls == 2   # the second image's occlusion stopped too


LEFT, RIGHT, OTHER = "gradcam", "lrp", "saliency"   # the tab's defaults, then any other method


@pytest.mark.slow
def test_the_families_tab_agrees_with_the_maps_and_measures_computed_directly(
        qtbot, make_window, load_slot, r50_32, image_folder_3cls):
    from scipy.stats import spearmanr

    from gcam_desktop import models
    from gcam_desktop.app.families.view import PANEL_A, PANEL_B
    from gcam_desktop.explain import explain
    from gcam_desktop.explain.metrics import top_region_iou
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_for

    win = make_window()
    load_slot(win, "baseline", r50_32, "resnet50")
    image = sorted(image_folder_3cls.rglob("*.png"))[2]
    win.show_image(str(image))
    qtbot.waitUntil(lambda: win.families is not None, timeout=10_000)
    tab = win.families
    assert (tab.method_a.currentData(), tab.method_b.currentData()) == (LEFT, RIGHT)   # the defaults
    _choose(tab.model, "baseline")
    win.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.pair is not None, timeout=120_000)
    shown = tab.pair
    assert "IoU" in tab.agreement.text() and f"{shown.iou:.2f}" in tab.agreement.text()
    assert tab.view.panels[PANEL_A].map is not None and tab.view.panels[PANEL_B].map is not None

    model, meta = models.load_checkpoint(str(r50_32))
    x = preprocess_for(meta, load_image(str(image), min_size=(1024, 1024))).unsqueeze(0)
    a = explain(model, x, method=LEFT, top_k=1).maps[0, 0]
    b = explain(model, x, method=RIGHT, top_k=1).maps[0, 0]
    iou = float(top_region_iou(a[None], b[None])[0])
    rho = spearmanr(a.numpy().ravel(), b.numpy().ravel()).statistic
    assert shown.iou == pytest.approx(iou, abs=1e-6)
    assert math.isfinite(rho) and shown.spearman == pytest.approx(rho, abs=1e-5)
    # any two methods: another right-hand method asks again and the numbers follow
    _choose(tab.method_b, OTHER)
    qtbot.waitUntil(lambda: tab.pair is not None and tab.results[PANEL_B].request.method == OTHER,
                    timeout=120_000)
    s = explain(model, x, method=OTHER, top_k=1).maps[0, 0]
    assert tab.pair.iou == pytest.approx(float(top_region_iou(a[None], s[None])[0]), abs=1e-6)
    assert np.isclose(tab.pair.spearman, spearmanr(a.numpy().ravel(), s.numpy().ravel()).statistic, atol=1e-5)


@pytest.mark.slow  # a further window; the settings round trip (fast tier) covers the remembering
def test_the_families_tab_keeps_its_methods_and_drops_one_the_engine_lacks(qtbot, make_window):
    """The two methods come back from the settings; a remembered name the engine does not have
    (an older or newer version's) falls back to the defaults instead of an empty box."""
    win = make_window(families={"method_a": "xgradcam", "method_b": "no_such_method"})
    qtbot.waitUntil(lambda: win.families is not None and win.families.method_a.count() > 0, timeout=10_000)
    tab = win.families
    assert tab.method_a.currentData() == "xgradcam"
    assert tab.method_b.currentData() == "lrp"  # the default of the other family
    i = tab.method_b.findData("rise")
    tab.method_b.setCurrentIndex(i)
    assert win.settings["families"] == {"method_a": "xgradcam", "method_b": "rise"}
    from gcam_desktop.app.common.settings import Settings

    assert Settings.load()["families"]["method_b"] == "rise"  # saved at the change
