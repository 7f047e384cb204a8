"""Two models' clusterings of the same class compared: the adjusted Rand index over the images
both explained (scikit-learn), and which images move, i.e. leave the cluster of B that best
matches their cluster of A (clusters matched one to one by overlap, scipy's assignment). Torch-
and Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gcam_desktop.strategies.result import ClassStrategies


@dataclass
class Comparison:
    class_index: int
    a: str                  # the models' names
    b: str
    common: int             # images both clusterings hold
    ari: float | None       # adjusted Rand index of the two partitions (1 = the same; ~0 = chance); None below 2 images
    matched: dict[int, int | None] = field(default_factory=dict)  # cluster of A -> its partner in B (None: no partner)
    moved: list[str] = field(default_factory=list)  # paths whose B cluster is not the partner of their A cluster
    class_name: str = ""

    def to_json(self) -> dict:
        return {"class_index": self.class_index, "class": self.class_name, "a": self.a, "b": self.b, "images": self.common,
                "adjusted_rand_index": None if self.ari is None else round(self.ari, 4),
                "matched_clusters": {str(k): v for k, v in self.matched.items()}, "moved": self.moved}


def compare(a: ClassStrategies, b: ClassStrategies, name_a: str = "A", name_b: str = "B") -> Comparison:
    """How B's clusters of a class differ from A's on the images both hold (matched by path)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score
    from sklearn.metrics.cluster import contingency_matrix

    index_b = {e.path: i for i, e in enumerate(b.images)}
    pairs = [(i, index_b[e.path]) for i, e in enumerate(a.images) if e.path in index_b]
    out = Comparison(a.class_index, name_a, name_b, len(pairs), None, class_name=a.class_name)
    if len(pairs) < 2:
        return out
    la = a.clustering.labels[[i for i, _ in pairs]]
    lb = b.clustering.labels[[j for _, j in pairs]]
    out.ari = float(adjusted_rand_score(la, lb))
    ua, ia = np.unique(la, return_inverse=True)
    ub, ib = np.unique(lb, return_inverse=True)
    table = contingency_matrix(la, lb)
    rows, cols = linear_sum_assignment(table, maximize=True)
    partner = {int(ua[r]): int(ub[c]) for r, c in zip(rows, cols)}
    out.matched = {int(c): partner.get(int(c)) for c in ua}
    out.moved = [a.images[i].path for (i, _), x, y in zip(pairs, la, lb) if partner.get(int(x)) != int(y)]
    return out
