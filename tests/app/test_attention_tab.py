"""The attention in the app (issue 12): the Attention tab's gates per stage, the "attention off"
panel beside an SE / s_se panel with its top-1 change, and the gates and figures exported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from qt_settle import settle


@pytest.fixture(scope="module")
def attention_checkpoints(tmp_path_factory, class_names):
    """Untrained SE-ResNet50 and s_se-ResNet50 checkpoints for the tiny set (32 px)."""
    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    root = tmp_path_factory.mktemp("attention-ckpts")
    out = {}
    for seed, arch in enumerate(("se_resnet50", "s_se_resnet50")):
        torch.manual_seed(seed)
        out[arch] = save_checkpoint(root / f"{arch}.pt", build_model(arch, len(class_names)),
                                    make_meta(arch, class_names, input_size=32))
    return out


@pytest.fixture
def win(make_window, qtbot, attention_checkpoints, image_folder_3cls, load_slot):
    w = make_window(slots_arch=None)  # the default slots: resnet50, se_resnet50, s_se_resnet50
    load_slot(w, "SE", attention_checkpoints["se_resnet50"], "se_resnet50")
    load_slot(w, "s_se", attention_checkpoints["s_se_resnet50"], "s_se_resnet50")
    w.show_image(str(sorted(image_folder_3cls.rglob("*.png"))[0]))
    qtbot.waitUntil(lambda: all(s in w.explanations.results and w.explanations.results[s].ok
                                for s in ("SE", "s_se")), timeout=120_000)
    return w


def engine_input(path: str, ckpt):
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_for
    from gcam_desktop.models import load_checkpoint

    model, meta = load_checkpoint(ckpt)
    return model, preprocess_for(meta, load_image(path)).unsqueeze(0)


@pytest.mark.slow
def test_attention_tab_shows_each_stage_of_both_models_from_the_cached_results(qtbot, win,
                                                                               attention_checkpoints):
    from gcam_desktop.explain.attention import attention_gates

    tab = win.attention
    win.tabs.setCurrentWidget(tab)
    view = tab.view
    qtbot.waitUntil(lambda: len(view.cells) == 8, timeout=10_000)
    se, s_se = "SE-ResNet50", "s_se-ResNet50"
    assert [m.label for m in view.models] == [se, s_se]
    assert len(view.cells[("layer3", se)]["curves"]) == 6      # one gate per block
    assert len(view.cells[("layer3", s_se)]["curves"]) == 1    # one shared gate per stage
    assert view.cells[("layer4", s_se)]["gates"] == ["layer4"]
    assert "mean" in view.cells[("layer2", se)]["text"].text()
    assert [lab.text() for lab in view.distances["layer3"]][0].startswith("layer3.0 vs layer3: ")
    assert view.figures["models"][s_se]["gates"]["layer3"]["channels"] == 1024
    # the gates are the engine's for this image
    res = win.explanations.results["s_se"]
    model, x = engine_input(win.explanations.path, attention_checkpoints["s_se_resnet50"])
    direct = attention_gates(model, x)
    for name, g in direct.items():
        np.testing.assert_allclose(res.gates[name], g[0].numpy(), atol=1e-5)
    # cached with the maps: back on an image seen before, no model runs and the same gates show
    calls = win.service.worker.explain_calls
    first = win.explanations.path
    other = [p for p in win.list_model.paths if p != first] or None
    assert win.service.cache.get(res.request.key).gates is res.gates
    if other:
        win.show_image(other[0])
        qtbot.waitUntil(lambda: win.explanations.results.get("s_se") is not None
                        and win.explanations.results["s_se"].request.path == other[0], timeout=60_000)
        win.show_image(first)
        calls = win.service.worker.explain_calls
    win.explanations.set_image(None)
    win.explanations.set_image(first)
    assert win.service.worker.explain_calls == calls
    qtbot.waitUntil(lambda: view.image == first and len(view.cells) == 8, timeout=10_000)
    np.testing.assert_array_equal(view.models[1].gates["layer3"], res.gates["layer3"])


@pytest.mark.slow
def test_attention_off_panel_beside_the_model_with_its_top1_change(qtbot, win, attention_checkpoints):
    from gcam_desktop.app.inference.messages import off_channel
    from gcam_desktop.explain import explain

    ex = win.explanations
    se_panel = win.view.panels["SE"]
    assert se_panel.attention_off.isVisibleTo(win) and not win.view.panels["baseline"].attention_off.isVisibleTo(win)
    se_panel.attention_off.setChecked(True)
    off = off_channel("SE")
    assert win.view.order == ["baseline", "SE", off, "s_se"]
    qtbot.waitUntil(lambda: off in ex.results and ex.results[off].ok, timeout=60_000)
    res = ex.results[off]
    assert res.request.attention == "off" and res.request.slot == "SE"
    model, x = engine_input(ex.path, attention_checkpoints["se_resnet50"])
    expected = explain(model, x, "gradcam", attention="off")
    np.testing.assert_allclose(res.map, expected.maps[0, 0].numpy(), atol=1e-5)
    assert res.top[0][0] == int(expected.probs[0].argmax())
    change = ex.top1_change("SE")
    assert change.startswith("top-1 ") and change in win.view.panels[off].subtitle.text()
    on = ex.results["SE"]
    assert ("unchanged" in change) == (on.top[0][0] == res.top[0][0])
    assert not np.allclose(on.map, res.map), "switching the attention off changed nothing"
    # the difference panel can compare the model with and without its attention
    assert win.controls.diff_b.findData(off) >= 0
    se_panel.attention_off.setChecked(False)
    assert win.view.order == ["baseline", "SE", "s_se"] and off not in ex.results


@pytest.mark.slow
def test_export_writes_the_gates_and_figures_with_the_maps(qtbot, win, tmp_path):
    from gcam_desktop.app.export.comparison import export_comparison, export_raw_maps
    from gcam_desktop.app.inference.messages import off_channel

    win.view.panels["s_se"].attention_off.setChecked(True)
    off = off_channel("s_se")
    qtbot.waitUntil(lambda: off in win.explanations.results and win.explanations.results[off].ok,
                    timeout=60_000)
    npz, side = export_raw_maps(win.export_source, tmp_path / "img_maps.npz")
    assert json.loads(side.read_text())["panels"][off]["attention"] == "off"
    with np.load(tmp_path / "img_gates.npz") as gates:
        assert "s_se-ResNet50/layer3" in gates.files and "SE-ResNet50/layer3.5" in gates.files
        np.testing.assert_array_equal(gates["s_se-ResNet50/layer2"], win.explanations.results["s_se"].gates["layer2"])
    figures = json.loads((tmp_path / "img_attention.json").read_text())
    assert figures["format"] == "gcam-desktop/attention"
    assert figures["models"]["SE-ResNet50"]["gates"]["layer1.0"]["channels"] == 256
    assert set(figures["stages"]) == {"layer1", "layer2", "layer3", "layer4"}
    assert figures["attention_off"]["s_se-ResNet50"].startswith("top-1")
    png = export_comparison(win.export_source, tmp_path / "cmp.png")
    assert png.exists()


def drawn_tick_labels(axis) -> list[str]:
    """The tick labels pyqtgraph draws on `axis` at its present size (it leaves out those that
    would stick out of the axis or crowd it)."""
    from PySide6.QtGui import QImage, QPainter

    img = QImage(max(1, int(axis.width())), max(1, int(axis.height())), QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(p)
    finally:
        p.end()
    return [t[2] for t in texts]


@pytest.mark.slow
def test_histograms_have_labelled_axes_and_distances_read_whole_at_1024(qtbot, win):
    """The histograms once showed no y values and only "0.5" under the x axis; the "how far
    apart" column wrapped mid-name ("s_se-" / "ResNet50")."""
    win.resize(1024, 700)
    win.tabs.setCurrentWidget(win.attention)
    view = win.attention.view
    qtbot.waitUntil(lambda: len(view.cells) == 8 and win.width() == 1024, timeout=10_000)
    settle()
    for (stage, label), cell in view.cells.items():
        plot = cell["plot"]
        x = drawn_tick_labels(plot.getAxis("bottom"))
        assert {"0", "0.5", "1"} <= set(x) and len(x) >= 3, (stage, label, x)
        y = drawn_tick_labels(plot.getAxis("left"))
        assert len(y) >= 2 and all(t.endswith("%") for t in y), (stage, label, y)
        # the y axis reaches the tallest bar: the share of channels is read off it
        tallest = max(float(c.yData.max()) for c in cell["curves"])
        assert plot.getViewBox().viewRange()[1][1] >= tallest
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        (line,) = view.distances[stage]
        assert not line.wordWrap() and line.isVisible()
        assert line.fontMetrics().horizontalAdvance(line.shown_text()) <= line.width()
        # the whole text shows (else it would end in "…" with the whole in the tooltip)
        assert not line.is_elided(), (line.shown_text(), line.width())
        assert "SE-ResNet50" in line.toolTip() and "s_se-ResNet50" in line.toolTip()
