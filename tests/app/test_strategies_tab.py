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
