"""The Strategies tab's scatter with 10,000 points (issue 22: pan, zoom and hover stay responsive).

Side by side, offscreen: the hover lookup of the tab (scipy's cKDTree, built once per result)
against pyqtgraph's own `ScatterPlotItem.pointsAt` (a scan of every point) at the same mouse
positions; one mouse move as the tab handles it (lookup, marker, thumbnail frame); and a repaint
of the plot after a zoom step. Prints medians and ratios.

    QT_QPA_PLATFORM=offscreen python bench/strategies_scatter.py [N]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved  # noqa: E402


def main(n: int = 10_000) -> None:
    import scipy.spatial  # noqa: F401  (imported by the tab's worker before a result is shown)
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from gcam_desktop.app.common.qt_compat import install

    install()  # PySide6's reference bug on emit (see the module): without it the exit crashes

    from gcam_desktop.app.strategies.scatter import StrategyScatter

    app = QApplication.instance() or QApplication(sys.argv)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, n)
    xy = rng.uniform(-50, 50, (8, 2))[labels] + rng.normal(0, 4, (n, 2))
    paths = [f"/images/{i:05d}.png" for i in range(n)]
    scatter = StrategyScatter()
    scatter.resize(700, 520)
    scatter.show()
    app.processEvents()
    t0 = time.perf_counter()
    scatter.set_points(xy, labels, paths)
    app.processEvents()
    t_set = time.perf_counter() - t0

    vb = scatter.plot.getViewBox()
    queries = xy[rng.integers(0, n, 200)] + rng.normal(0, 0.3, (200, 2))
    scene = [vb.mapViewToScene(QPointF(*q)) for q in queries]

    def tree():
        for q in queries:
            scatter.nearest(*q)

    def pyqtgraph_points_at():
        for q in queries:
            scatter.item.pointsAt(QPointF(*q))

    def mouse_moves():
        for p in scene:
            scatter._on_move(p)
            app.processEvents()

    def zoom_and_paint():
        vb.scaleBy((0.9, 0.9))
        scatter.plot.viewport().repaint()
        vb.scaleBy((1 / 0.9, 1 / 0.9))
        scatter.plot.viewport().repaint()

    t = interleaved({"tree": tree, "pointsAt": pyqtgraph_points_at, "moves": mouse_moves, "zoom": zoom_and_paint},
                    rounds=5)
    per = len(queries)
    print(f"{n:,} points; set_points (brushes, tree, first paint): {t_set * 1e3:.0f} ms")
    print(f"hover lookup, cKDTree:                     {t['tree'] / per * 1e6:8.1f} us")
    print(f"hover lookup, pyqtgraph pointsAt:          {t['pointsAt'] / per * 1e6:8.1f} us   "
          f"({t['pointsAt'] / t['tree']:.0f}x the tree)")
    print(f"one mouse move as the tab handles it:      {t['moves'] / per * 1e3:8.2f} ms")
    print(f"zoom step, two repaints:                   {t['zoom'] * 1e3:8.1f} ms")
    scatter.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
