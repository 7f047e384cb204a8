"""Strategies in a data set (SpRAy, Lapuschkin et al. 2019): a class's explanation maps reduced
to small grids, clustered spectrally, each cluster summarised, models compared. Qt-free; the
package and its modules import without torch (the job loads it when a model runs).

    result = run_strategies([folder], (name, model, meta), "gradcam", class_index=None)
    for cls in result.classes:                      # ClassStrategies
        cls.clustering.eigenvalues, cls.clustering.k, cls.clustering.layout
        for c in cls.clusters: c.size, c.mean_map, c.mean_image, c.accuracy, c.nearest
    compare(base.of_class(0), se.of_class(0), "ResNet50", "SE-ResNet50").ari

docs/adr/0031 has the choices (grid, affinity, eigengap, layout, duplicates).
"""

from __future__ import annotations

from gcam_desktop.strategies.cache_key import cache_key
from gcam_desktop.strategies.compare import Comparison, compare
from gcam_desktop.strategies.grid import GRID, THUMB
from gcam_desktop.strategies.job import NEAREST, Cancelled, run_strategies, summarise
from gcam_desktop.strategies.result import ClassStrategies, Cluster, ImageEntry, StrategiesResult
from gcam_desktop.strategies.spectral import MAX_K, N_NEIGHBORS, Clustering, analyse, eigengap_k

__all__ = ["GRID", "MAX_K", "N_NEIGHBORS", "NEAREST", "THUMB", "Cancelled", "ClassStrategies", "Cluster",
           "Clustering", "Comparison", "ImageEntry", "StrategiesResult", "analyse", "cache_key", "compare",
           "eigengap_k", "run_strategies", "summarise"]
