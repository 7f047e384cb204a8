"""Spectral clustering of explanation maps (SpRAy, Lapuschkin et al. 2019): a nearest-neighbour
affinity graph, its normalised Laplacian's smallest eigenpairs, the number of clusters from the
largest eigengap (or the caller's), k-means on the spectral embedding, and a 2-D t-SNE layout
for display. scikit-learn and scipy do the numerics (docs/adr/0031). Torch- and Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_K = 10  # clusters the eigengap may choose at most (eigenvalues computed: MAX_K + 1)
N_NEIGHBORS = 10  # neighbours per map in the affinity graph (scikit-learn's SpectralClustering default)
PCA_DIMS = 30  # the layout's t-SNE runs on this many principal components of the maps
LAYOUT_ITERATIONS = 500  # t-SNE steps: half scikit-learn's default; the clusters settle well before


@dataclass
class Clustering:
    """One class's maps, clustered. Rows follow the maps given to `analyse`."""

    labels: np.ndarray      # N int: the cluster of each map, 0..k-1, clusters numbered by size (0 = largest)
    eigenvalues: np.ndarray  # the normalised Laplacian's smallest eigenvalues, ascending (up to max_k + 1)
    eigengap_k: int         # the k the largest eigengap suggests
    k: int                  # the k used: the user's when given, else eigengap_k
    layout: np.ndarray      # N x 2 float32: t-SNE of the maps, for the scatter
    embedding: np.ndarray   # N x k float32: the spectral embedding k-means ran on (rows unit length)
    n_neighbors: int        # the affinity graph's neighbours per map

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])


def affinity(features: np.ndarray, n_neighbors: int):
    """The symmetric k-nearest-neighbour connectivity graph (scipy sparse, N x N): 1 where either
    map is among the other's n_neighbors nearest (Euclidean), 0.5 where only one way, as
    scikit-learn's SpectralClustering(affinity="nearest_neighbors") builds it."""
    from sklearn.neighbors import kneighbors_graph

    knn = kneighbors_graph(np.asarray(features, np.float32), n_neighbors=n_neighbors, mode="connectivity",
                           include_self=False)
    return (0.5 * (knn + knn.T)).tocsr()


def spectrum(graph, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending, N x count eigenvectors): the `count` smallest eigenpairs of the
    graph's symmetric normalised Laplacian (scipy). Shift-invert around 1 of -L, as
    scikit-learn's spectral_embedding does: fast and exact for the bottom of the spectrum."""
    from scipy.sparse import csr_array, issparse
    from scipy.sparse.csgraph import laplacian
    from scipy.sparse.linalg import eigsh

    a = csr_array(graph) if issparse(graph) else csr_array(np.asarray(graph, np.float64))
    lap = laplacian(a.astype(np.float64), normed=True)
    n = lap.shape[0]
    count = min(count, n)
    if n <= 2 * count + 1 or n < 200:  # small: the dense solver is quicker and never fails to converge
        from scipy.linalg import eigh

        values, vectors = eigh(lap.toarray(), subset_by_index=[0, count - 1])
    else:
        rng = np.random.default_rng(0)  # ARPACK's start vector, seeded: the same maps give the same answer
        values, vectors = eigsh(-lap, k=count, sigma=1.0, which="LM", v0=rng.uniform(-1, 1, n))
        values = -values
    order = np.argsort(values)
    return np.clip(values[order], 0.0, None), vectors[:, order]


def eigengap_k(eigenvalues: np.ndarray, max_k: int) -> int:
    """The number of clusters the largest gap between consecutive eigenvalues suggests: k with
    lambda_k - lambda_{k-1} largest, 1 <= k <= max_k (a graph of k loosely joined groups has k
    eigenvalues near 0, then a jump). Ties go to the smaller k."""
    values = np.asarray(eigenvalues, np.float64)
    top = min(int(max_k), len(values) - 1)
    if top < 1:
        return 1
    gaps = np.diff(values[:top + 1])
    return int(np.argmax(gaps)) + 1


def analyse(grids: np.ndarray, *, n_neighbors: int | None = None, k: int | None = None, max_k: int = MAX_K,
            seed: int = 0, layout: bool = True) -> Clustering:
    """Cluster N maps (N x g x g, or N x features). k=None: chosen by the eigengap; an int
    overrides it (clipped to 1..N). layout=False leaves the 2-D layout at zeros (bench, tests)."""
    if len(grids) == 0:
        raise ValueError("no maps to cluster")
    x = np.asarray(grids, np.float32).reshape(len(grids), -1)
    n = x.shape[0]
    if n < 3:  # too few for a graph: one cluster, laid out on a line
        return Clustering(np.zeros(n, np.int64), np.zeros(n), 1, 1,
                          np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32),
                          np.ones((n, 1), np.float32), 0)
    nn = max(1, min(int(n_neighbors or N_NEIGHBORS), n - 1))
    max_k = max(1, min(int(max_k), n - 2))
    values, vectors = spectrum(affinity(x, nn), max_k + 1)
    suggested = eigengap_k(values, max_k)
    use = suggested if k is None else max(1, min(int(k), n))
    if use > vectors.shape[1]:
        values, vectors = spectrum(affinity(x, nn), use)
    with one_thread():
        labels, embedding = _kmeans(vectors[:, :use], use, seed)
        xy = layout_2d(x, seed) if layout else np.zeros((n, 2), np.float32)
    return Clustering(labels, values, suggested, use, xy, embedding, nn)


def one_thread():
    """scikit-learn's OpenMP loops (k-means, t-SNE) on one thread. Its threads spin while they
    wait; next to the app's inference worker or on any busy CPU, a descheduled thread stalls
    every step: t-SNE of 120 maps took 25.8 s with 2 threads on a loaded 2-core machine and
    0.55 s with one (docs/adr/0031)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means (scikit-learn) on the row-normalised embedding (Ng, Jordan and Weiss); clusters
    renumbered by size, largest first, so cluster 0 is the class's main strategy."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import normalize

    emb = normalize(vectors).astype(np.float32)
    if k == 1:
        return np.zeros(len(emb), np.int64), emb
    raw = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(emb)
    sizes = np.bincount(raw, minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    return rank[raw], emb


def layout_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """N x 2: t-SNE (scikit-learn, Barnes-Hut) of the maps' first PCA_DIMS principal components,
    LAYOUT_ITERATIONS steps; perplexity lowered for small sets (docs/adr/0031)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(x, np.float32).reshape(len(x), -1)
    n = len(x)
    if n < 3:
        return np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32)
    dims = min(PCA_DIMS, x.shape[1], n)
    if dims < x.shape[1]:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3.0)))
    out = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=LAYOUT_ITERATIONS,
               random_state=seed).fit_transform(x)
    return out.astype(np.float32)
