"""The strategies clustering (gcam_desktop/strategies/spectral.py) on 2,000 maps of one class,
side by side with scikit-learn's own SpectralClustering on the same maps and graph settings.

Maps: GRID x GRID, synthetic: most put a blob on an object at a random place, a third also light
a fixed corner (a planted "watermark" strategy), with noise. Printed: median seconds of
`analyse` without and with the t-SNE layout, of SpectralClustering(affinity="nearest_neighbors")
(which gives no eigenvalues, hence no eigengap), the ratios, and how well each recovers the
corner group (adjusted Rand index).

    python bench/strategies.py [--n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402

from gcam_desktop.strategies.grid import GRID  # noqa: E402
from gcam_desktop.strategies.spectral import N_NEIGHBORS, analyse  # noqa: E402


def synthetic_maps(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n x GRID x GRID maps, 1 where the map has the corner too)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    corner = rng.uniform(size=n) < 1 / 3
    maps = np.empty((n, GRID, GRID), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(3, GRID - 3, 2)
        m = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5 ** 2))
        if corner[i]:
            m = np.maximum(0.4 * m, np.exp(-((yy - 1.5) ** 2 + (xx - 1.5) ** 2) / (2 * 1.5 ** 2)))
        maps[i] = m + rng.normal(0, 0.05, m.shape)
    return maps, corner.astype(int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import adjusted_rand_score

    import warnings

    # SpectralClustering warns that a kNN graph of distinct groups is not connected: it is the point.
    warnings.filterwarnings("ignore", message="Graph is not fully connected")
    maps, truth = synthetic_maps(args.n)
    flat = maps.reshape(len(maps), -1)
    out: dict = {}

    def ours():
        out["ours"] = analyse(maps, layout=False)

    def ours_layout():
        out["layout"] = analyse(maps, layout=True)

    def sklearn_sc():
        out["sklearn"] = SpectralClustering(n_clusters=out["ours"].k, affinity="nearest_neighbors",
                                            n_neighbors=N_NEIGHBORS, assign_labels="kmeans",
                                            random_state=0).fit_predict(flat)

    ours()  # k for the reference, and the imports out of the timings
    t = interleaved({"ours": ours, "sklearn": sklearn_sc}, rounds=args.rounds)
    t_layout = interleaved({"layout": ours_layout}, rounds=1, warmup=0)["layout"]
    c = out["ours"]
    print(f"{args.n} maps of {GRID} x {GRID}; eigengap k = {c.k}; eigenvalues {np.round(c.eigenvalues[:5], 3)}")
    print(f"analyse (graph, eigenvalues, eigengap, k-means): {t['ours']:.2f} s")
    print(f"sklearn SpectralClustering, same graph settings, k given: {t['sklearn']:.2f} s "
          f"(ratio ours / sklearn {t['ours'] / t['sklearn']:.2f})")
    print(f"analyse with the t-SNE layout: {t_layout:.2f} s (layout alone about {t_layout - t['ours']:.2f} s)")
    for name, labels in (("ours", c.labels), ("sklearn", out["sklearn"])):
        pure = [j for j in range(c.k) if (labels == j).any() and truth[labels == j].mean() >= 0.9]
        held = truth[np.isin(labels, pure)].sum() / truth.sum()
        print(f"{name}: {len(pure)} of {c.k} clusters are >= 90 % corner maps and hold {held:.0%} of them; "
              f"adjusted Rand vs (corner, no corner) {adjusted_rand_score(truth, labels):.3f}")


if __name__ == "__main__":
    main()
