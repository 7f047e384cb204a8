"""The comparison view: panels per model, shared controls, hover, difference, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from PIL import Image


@pytest.fixture
def win(make_window, qtbot, checkpoints, image_folder_3cls, load_slot):
    w = make_window()
    for slot, key in (("baseline", "a"), ("SE", "b"), ("s_se", "c")):
        load_slot(w, slot, checkpoints[key])
    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    w.show_image(str(image))
    _wait_all(qtbot, w)
    return w


def _wait_all(qtbot, w, method=None):
    def done():
        res = w.explanations.results
        return all(s in res and res[s].ok and (method is None or res[s].method == method)
                   for s in ("baseline", "SE", "s_se")) and w.view.original.image is not None
    qtbot.waitUntil(done, timeout=60_000)
    qtbot.waitUntil(lambda: all(w.view.panels[s].map is not None for s in ("baseline", "SE", "s_se")), timeout=10_000)


def test_one_panel_per_active_model_with_top5_and_true_class(qtbot, win, image_folder_3cls, class_names):
    assert [p.key for p in win.view.visible_panels()] == ["original", "baseline", "SE", "s_se"]
    path = win.explanations.path
    truth = class_names.index(__import__("pathlib").Path(path).parent.name)
    for slot in ("baseline", "SE", "s_se"):
        res = win.explanations.results[slot]
        assert res.true_class == truth
        rows = win.view.panels[slot].predictions.rows
        assert len(rows) == len(class_names)                # top-5 of 3 classes
        assert sum(r[3] for r in rows) == 1                 # the true class is marked once
        assert abs(sum(r[1] for r in rows) - 1.0) < 1e-4
    assert "True class" in win.view.original.info.text()
    win.slots.cards["SE"].enabled.setChecked(False)
    assert [p.key for p in win.view.visible_panels()] == ["original", "baseline", "s_se"]


@pytest.mark.slow
def test_opacity_recomposites_without_running_a_model(qtbot, win):
    calls = win.service.worker.explain_calls
    panels = [win.view.panels[s] for s in ("baseline", "SE", "s_se")]
    maps = [p.map for p in panels]
    for v in range(0, 101, 5):
        win.controls.opacity.setValue(v)
        assert all(abs(p.overlay.opacity() - v / 100) < 1e-6 for p in panels)
    _assert_no_model_ran(win, calls)
    assert all(p.map is m for p, m in zip(panels, maps))   # nothing recomputed either


@pytest.mark.slow
def test_colour_map_and_shared_scale_need_no_model(qtbot, win):
    calls = win.service.worker.explain_calls
    c = win.controls
    c.cmap.setCurrentIndex((c.cmap.currentIndex() + 1) % c.cmap.count())
    c.norm.setCurrentIndex(c.norm.findData("shared"))
    res = win.explanations.results
    lo = min(r.raw_min for r in res.values())
    hi = max(r.raw_max for r in res.values())
    for s in ("baseline", "SE", "s_se"):
        assert win.view.panels[s].levels == pytest.approx((lo, hi))
    assert c.colorbar.hi == pytest.approx(hi) and "shared" in c.colorbar.caption
    c.norm.setCurrentIndex(c.norm.findData("per_map"))
    for s in ("baseline", "SE", "s_se"):
        assert win.view.panels[s].levels == pytest.approx((res[s].raw_min, res[s].raw_max))
    _assert_no_model_ran(win, calls)


def _assert_no_model_ran(win, calls: int) -> None:
    """Requests go to the worker as the controls change (no timer in between): once the events
    those changes posted are handled, an idle worker that made no call has run nothing."""
    QApplication.processEvents()
    assert win.service.idle() and win.service.worker.queued() == 0
    assert win.service.worker.explain_calls == calls


@pytest.mark.slow
def test_method_and_target_class_rerun_every_panel(qtbot, win):
    c = win.controls
    assert c.method.count() >= 10                           # every method of the engine
    c.method.setCurrentIndex(c.method.findData("layercam"))
    _wait_all(qtbot, win, method="layercam")
    name = c.target.itemText(2)  # the classes by name (Own prediction, then each class once)
    c.target.setCurrentIndex(c.target.findData(name))
    res = win.explanations.results
    qtbot.waitUntil(lambda: all(s in res and res[s].request.target == name for s in ("baseline", "SE", "s_se")),
                    timeout=60_000)
    assert all(res[s].target_name == name for s in ("baseline", "SE", "s_se"))
    assert all(res[s].target_class == 1 for s in ("baseline", "SE", "s_se"))
    assert all("chosen class" in win.view.panels[s].subtitle.text() for s in ("baseline", "SE", "s_se"))


@pytest.mark.slow
def test_hover_shows_the_map_value_in_every_panel(qtbot, win):
    h, w = win.view.original.image.shape[:2]
    win.view.original.hovered.emit((w / 2, h / 2))
    for s in ("baseline", "SE", "s_se"):
        panel = win.view.panels[s]
        text = panel.value.text()
        expected = panel.value_at(w / 2, h / 2)[0]
        assert f"{expected:.3f}" in text and panel.marker.isVisible()
    win.view.original.hovered.emit(None)
    assert not win.view.panels["SE"].marker.isVisible()


@pytest.mark.slow
def test_difference_view_and_agreement_score(qtbot, win):
    c = win.controls
    # one class for all, so both panels explain the same class (maps of different classes are
    # not compared: test_imagenet_slots.py)
    name = c.target.itemText(1)
    c.target.setCurrentIndex(c.target.findData(name))
    res = win.explanations.results
    qtbot.waitUntil(lambda: all(s in res and res[s].ok and res[s].request.target == name
                                for s in ("baseline", "s_se")), timeout=60_000)
    c.diff_a.setCurrentIndex(c.diff_a.findData("baseline"))
    c.diff_b.setCurrentIndex(c.diff_b.findData("s_se"))
    c.show_diff.setChecked(True)
    assert win.view.diff in win.view.visible_panels()
    diff = win.view.diff.map
    assert diff is not None and diff.min() >= -1 and diff.max() <= 1
    a, b = win.explanations.results["baseline"], win.explanations.results["s_se"]
    iou = win.explanations.agreement(a, b)
    assert 0 <= iou <= 1 and f"{iou:.2f}" in c.agreement.text()
    assert win.explanations.agreement(a, a) == pytest.approx(1.0)


@pytest.mark.slow
def test_zoom_is_shared_by_all_panels(qtbot, win):
    vb = win.view.panels["SE"].vb
    vb.setRange(xRange=(2, 10), yRange=(2, 10), padding=0)
    vb.sigRangeChangedManually.emit(vb.state["mouseEnabled"])  # as a wheel or a drag does
    centre = lambda panel: (panel.vb.viewRect().center().x(), panel.vb.viewRect().center().y())  # noqa: E731
    qtbot.waitUntil(lambda: all(centre(p) == pytest.approx(centre(win.view.panels["SE"]), abs=1e-3)
                                for p in (win.view.original, *win.view.panels.values())), timeout=10_000)
    se = vb.viewRect()
    for name, panel in [("original", win.view.original), *win.view.panels.items()]:
        r = panel.vb.viewRect()
        # the same picture point in the middle of every panel, magnified alike
        assert (r.center().x(), r.center().y()) == pytest.approx((se.center().x(), se.center().y()), abs=1e-3), name
        assert r.width() < 20, name
    win.view.reset_zoom()
    h, w = win.view.original.image.shape[:2]
    for panel in [win.view.original, *win.view.panels.values()]:
        (x0, x1), (y0, y1) = panel.vb.viewRange()
        assert x0 <= 0.5 and y0 <= 0.5 and x1 >= w - 0.5 and y1 >= h - 0.5  # the whole picture again


@pytest.mark.slow
def test_export_png_and_raw_maps(qtbot, win, tmp_path):
    from gcam_desktop.app.export.comparison import export_comparison, export_raw_maps

    png = export_comparison(win.export_source, tmp_path / "out" / "cmp.png")
    img = Image.open(png)
    h, w = win.view.original.image.shape[:2]
    assert img.width > 4 * w and img.height > h            # four tiles side by side, captions above
    npz, side = export_raw_maps(win.export_source, tmp_path / "out" / "maps")
    arrays = np.load(npz)
    meta = json.loads(side.read_text())
    assert set(meta["panels"]) == {"baseline", "SE", "s_se"}
    for slot in meta["panels"]:
        np.testing.assert_array_equal(arrays[f"{slot}_map"], win.explanations.results[slot].map)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cmp.png", "maps.json", "maps.npz"]


@pytest.mark.slow
def test_batch_export_runs_explain_paths_in_the_worker(qtbot, win, image_folder_3cls, tmp_path):
    from gcam_desktop.app.window_features import batch_export_dialog

    dlg = batch_export_dialog(win)
    qtbot.addWidget(dlg)
    dlg.source.setText(str(image_folder_3cls))
    dlg.out.setText(str(tmp_path / "export"))
    dlg.models["SE"].setChecked(False)
    calls = win.service.worker.explain_calls
    with qtbot.waitSignal(win.service.worker.job_done, timeout=120_000):
        assert dlg.start()
        # The panels stay live while the folder is exported.
        win.image_list.step(1)
    n = len(list(image_folder_3cls.rglob("*.png")))
    assert dlg.result["images"] == n and dlg.result["maps"] == 2 * n and not dlg.result["cancelled"]
    assert (tmp_path / "export" / "predictions.csv").is_file()
    folders = sorted(p.name for p in (tmp_path / "export").iterdir() if p.is_dir())
    assert folders == ["baseline", "s_se"]  # two small CNNs: told apart by slot (names.model_names)
    assert len(list((tmp_path / "export" / "baseline").rglob("*.png"))) == n
    assert win.service.worker.explain_calls >= calls   # interactive requests were still served
    dlg.done(0)
