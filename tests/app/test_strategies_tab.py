"""The Strategies tab: a real job (explain a small folder with small models, cluster the maps) on
the tab's own thread, its views, cancel, opening an image on the Compare tab, and the scatter's
hover lookup over 10,000 points."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gcam_desktop.app.strategies.eigen_plot import EigenPlot  # noqa: E402
from gcam_desktop.app.strategies.scatter import StrategyScatter, cluster_colour  # noqa: E402


# ------------------------------------------------------------------------------- the scatter
def _blobs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.uniform(-50, 50, (k, 2))
    return centres[labels] + rng.normal(0, 3, (n, 2)), labels


def test_scatter_of_10000_points_is_one_item_with_a_brush_each_and_finds_the_hovered_point(qtbot):
    xy, labels = _blobs(10_000, 6)
    paths = [f"/data/img_{i:05d}.png" for i in range(len(xy))]
    scatter = StrategyScatter()
    qtbot.addWidget(scatter)
    scatter.resize(700, 500)
    scatter.show()
    qtbot.waitExposed(scatter)
    scatter.set_points(xy, labels, paths)

    items = [it for it in scatter.plot.getPlotItem().items if it is scatter.item]
    assert len(items) == 1 and len(scatter.item.data) == 10_000
    colours = scatter.brush_colours()
    assert colours == [cluster_colour(j) for j in labels]

    # A lookup at a point's own place finds it; one between points finds the nearest (checked
    # against a brute-force search); far from every point finds none.
    rng = np.random.default_rng(1)
    for i in rng.integers(0, len(xy), 50):
        assert scatter.nearest(*xy[i], radius=1e-9) == i
    for q in rng.uniform(-55, 55, (50, 2)):
        d = np.hypot(*(xy - q).T)
        got = scatter.nearest(*q, radius=np.inf)
        assert np.isclose(d[got], d.min())
        assert scatter.nearest(*q, radius=d.min() * 0.999) == -1
    assert scatter.nearest(1e6, 1e6) == -1

    # The mouse over a point: the hover marks it and shows its picture's name.
    from PySide6.QtCore import QPointF

    i = int(rng.integers(0, len(xy)))
    vb = scatter.plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(*xy[i]))
    scatter._on_move(scene_pos)
    hovered = scatter.hovered_index
    assert hovered >= 0 and np.hypot(*(xy[hovered] - xy[i])) <= 10 * scatter._pixel_size() * 1.01
    assert scatter.tip.isVisible() and os.path.basename(paths[hovered]) in scatter.tip_text.text()


def test_eigen_plot_marks_the_gap_and_a_chosen_k(qtbot):
    plot = EigenPlot()
    qtbot.addWidget(plot)
    plot.show_spectrum([0.0, 0.01, 0.02, 0.6, 0.7, 0.75], eigengap_k=3, k=3)
    assert plot.marker_k() == 3 and not plot.chosen_marker.isVisible()
    plot.show_spectrum([0.0, 0.01, 0.02, 0.6, 0.7, 0.75], eigengap_k=3, k=5)
    assert plot.marker_k() == 3 and plot.chosen_marker.isVisible() and plot.chosen_marker.value() == 5.5


# ------------------------------------------------------------------------------- the tab, a real job
def _models_of(checkpoints: dict) -> list:
    """StrategyModel for checkpoint files, as the window makes them of loaded slots."""
    from gcam_desktop.app.strategies.sources import StrategyModel
    from gcam_desktop.models import read_checkpoint

    out = []
    for slot, path in checkpoints.items():
        _, meta, _ = read_checkpoint(path)
        out.append(StrategyModel(slot, meta["arch"], str(path), f"token-{slot}", meta, (), meta["default_layer"]))
    return out


@pytest.fixture
def folder_paths(image_folder_3cls) -> list[str]:
    from gcam_desktop.imaging.scan import scan_folder

    return [str(p) for p in scan_folder(image_folder_3cls)]


@pytest.fixture
def make_tab(qtbot):
    from gcam_desktop.app.strategies.tab import StrategiesTab

    tabs = []

    def make(models: list, paths: list[str], root) -> StrategiesTab:
        tab = StrategiesTab(lambda: models, device="cpu")
        qtbot.addWidget(tab)
        tab.resize(1000, 640)
        tab.show()
        tab.set_folder(paths, root)
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.shutdown()
        assert not tab.thread_running()


def test_a_job_on_a_small_folder_fills_the_scatter_the_eigenvalues_and_the_clusters(
        qtbot, make_tab, checkpoints, class_names, image_folder_3cls, folder_paths):
    tab = make_tab(_models_of({"A": checkpoints["a"]}), folder_paths, image_folder_3cls)
    tab.class_box.setCurrentIndex(tab.class_box.findText(class_names[0]))
    assert tab.class_index == 0
    with qtbot.waitSignal(tab.resultShown, timeout=180_000) as shown:
        tab.run()
    view = shown.args[0]
    # the class folder's images (6 per class, near-duplicates folded into one), no other
    n = len(view.paths)
    assert n + view.cls.collapsed == 6 and n >= 3
    assert all(f"{os.sep}{class_names[0]}{os.sep}" in p for p in view.paths)
    k = view.k
    assert k == view.eigengap_k and 1 <= k <= n
    # the scatter: one point per image, each in its cluster's colour, k colours in all
    assert len(tab.scatter.item.data) == n
    assert tab.scatter.brush_colours() == [cluster_colour(int(j)) for j in view.labels]
    assert len(set(tab.scatter.brush_colours())) == k == len(set(view.labels.tolist()))
    # the eigengap marker at the k chosen; the cluster list a row per cluster, sizes adding up
    assert tab.eigen.marker_k() == k
    assert tab.clusters.clusters.count() == k
    assert sum(r.size for r in tab.clusters.rows) == n
    assert "cluster" in tab.status.text()

    # k set by hand, near-duplicates kept: a second job. Every image of the class is clustered,
    # none said to be collapsed; the marker stays at the eigengap's k, the chosen k is drawn.
    tab.k_box.setValue(2 if k != 2 else 1)
    tab.duplicates_box.setChecked(False)
    with qtbot.waitSignal(tab.resultShown, timeout=180_000) as shown:
        tab.run()
    second = shown.args[0]
    assert second.k == tab.k_box.value() and tab.clusters.clusters.count() == tab.k_box.value()
    assert len(second.paths) == 6 and second.cls.collapsed == 0 and len(tab.scatter.item.data) == 6
    assert tab.eigen.marker_k() == second.eigengap_k and tab.eigen.chosen_marker.isVisible()
    runs = tab.worker.jobs_run
    # back to the first choice: from the session's cache, at once, no job
    tab.k_box.setValue(0)
    tab.duplicates_box.setChecked(True)
    assert tab.view.k == k and tab.eigen.marker_k() == k and tab.worker.jobs_run == runs and not tab.running


def test_cancel_stops_the_job(qtbot, make_tab, checkpoints, image_folder_3cls, folder_paths):
    tab = make_tab(_models_of({"A": checkpoints["a"]}), folder_paths, image_folder_3cls)
    tab.duplicates_box.setChecked(False)   # no hash model to make: the job explains at once
    started = []
    tab.worker.progress.connect(lambda *a: started.append(a))
    tab.run()
    assert tab.running and tab.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(started), timeout=120_000)  # the job is under way
    with qtbot.waitSignal(tab.worker.cancelled_job, timeout=120_000):
        tab.cancel()
    qtbot.waitUntil(lambda: not tab.running and not tab.worker.busy(), timeout=60_000)
    assert tab.view is None and tab.worker.jobs_run == 0 and tab.status.text() == "Cancelled"
    assert not tab.cancel_button.isEnabled()


@pytest.fixture(scope="module")
def resnet_variants(tmp_path_factory, class_names) -> dict:
    """The three ResNet50 variants, random weights, at 32 px (small enough for a CPU test)."""
    import torch

    from gcam_desktop.models import build_model, make_meta, save_checkpoint
    from gcam_desktop.models.names import RESNET_ARCHS

    root = tmp_path_factory.mktemp("variants")
    out = {}
    for i, arch in enumerate(RESNET_ARCHS):
        torch.manual_seed(10 + i)
        out[arch] = save_checkpoint(root / f"{arch}.pt", build_model(arch, len(class_names)),
                                    make_meta(arch, class_names, input_size=32))
    return out


@pytest.mark.slow
def test_the_variants_clusters_are_compared_with_the_baselines(qtbot, make_tab, resnet_variants, class_names,
                                                                image_folder_3cls, folder_paths):
    from gcam_desktop.models.names import RESNET_ARCHS
    from gcam_desktop.strategies import compare

    models = _models_of({f"slot-{arch}": path for arch, path in resnet_variants.items()})
    tab = make_tab(models, folder_paths, image_folder_3cls)
    assert tab.model.arch == RESNET_ARCHS[0] and tab.compare_box.isChecked()
    tab.class_box.setCurrentIndex(tab.class_box.findText(class_names[1]))
    tab.duplicates_box.setChecked(False)
    tab.run()
    # the baseline's job, then each variant's; the line appears once they are in
    qtbot.waitUntil(lambda: not tab.running, timeout=300_000)
    assert tab.worker.jobs_run == 3 and tab.view is not None
    assert tab.variants.isVisible()
    text = tab.variants.text()
    base = tab.view.cls
    for m in models[1:]:
        other = tab._lookup(tab._job(m))[0].classes[0]
        expected = compare(base, other)
        assert expected.ari is not None and f"ARI {expected.ari:.2f} over {expected.common} images" in text


@pytest.mark.slow
def test_clicking_a_cluster_member_or_a_point_opens_it_on_the_compare_tab(qtbot, make_window, load_slot, checkpoints,
                                                                           image_folder_3cls):
    from PySide6.QtCore import QPointF, Qt

    win = make_window()
    load_slot(win, "baseline", checkpoints["a"])
    with qtbot.waitSignal(win.scanner.finished, timeout=60_000):
        win.add_paths([image_folder_3cls])
    qtbot.waitUntil(lambda: win.strategies is not None, timeout=60_000)
    tab = win.strategies
    qtbot.waitUntil(lambda: len(tab._paths) == 18, timeout=60_000)   # the list's folder
    win.tabs.setCurrentWidget(tab)
    tab.class_box.setCurrentIndex(2)
    tab.duplicates_box.setChecked(False)
    with qtbot.waitSignal(tab.resultShown, timeout=180_000):
        tab.run()
    members = tab.clusters.members
    assert members.count() > 0
    path = tab.clusters.member_paths()[-1]
    item = members.item(members.count() - 1)
    qtbot.mouseClick(members.viewport(), Qt.MouseButton.LeftButton, pos=members.visualItemRect(item).center())
    assert win.tabs.currentIndex() == 0 and win.image_list.current_path() == path

    # a point of the scatter, clicked where it is drawn
    win.tabs.setCurrentWidget(tab)
    qtbot.waitExposed(tab.scatter)
    i = len(tab.scatter.paths) // 2
    vb = tab.scatter.plot.getViewBox()
    at = tab.scatter.plot.mapFromScene(vb.mapViewToScene(QPointF(*tab.scatter.layout_xy[i])))
    qtbot.mouseClick(tab.scatter.plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    qtbot.waitUntil(lambda: win.tabs.currentIndex() == 0, timeout=5_000)
    clicked = win.image_list.current_path()
    j = tab.scatter.paths.index(clicked)
    assert np.hypot(*(tab.scatter.layout_xy[j] - tab.scatter.layout_xy[i])) <= 10 * tab.scatter._pixel_size()


@pytest.mark.slow
def test_an_every_class_run_is_cached_per_class(qtbot, make_tab, checkpoints, class_names, image_folder_3cls,
                                                folder_paths):
    tab = make_tab(_models_of({"A": checkpoints["a"]}), folder_paths, image_folder_3cls)
    tab.duplicates_box.setChecked(False)
    assert tab.class_index is None   # "Every class" first
    with qtbot.waitSignal(tab.resultShown, timeout=180_000) as shown:
        tab.run()
    qtbot.waitUntil(lambda: not tab.running, timeout=60_000)
    assert shown.args[0].result.labelled and len(shown.args[0].paths) == 6
    assert "classes analysed" in tab.status.text()
    runs = tab.worker.jobs_run
    for i, name in enumerate(class_names):   # each class from the cache, no job
        tab.class_box.setCurrentIndex(tab.class_box.findText(name))
        assert tab.view.class_index == i and tab.view.cls.class_name == name
        assert all(f"{os.sep}{name}{os.sep}" in p for p in tab.scatter.paths)
    assert tab.worker.jobs_run == runs == 1 and not tab.running
