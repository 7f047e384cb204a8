"""strategies.json, the montages and the report section, from hand-made results (no model)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image


def _result(name, labels, tmp_path):
    from gcam_desktop.strategies import (ClassStrategies, Clustering, ImageEntry, StrategiesResult, compare,
                                         summarise)

    n = len(labels)
    paths = []
    for i in range(n):
        p = tmp_path / f"img{i}.png"
        if not p.exists():
            Image.new("RGB", (20, 20), (10 * i, 0, 0)).save(p)
        paths.append(str(p))
    entries = [ImageEntry(p, 0, 0 if i % 3 else 1, 0.9) for i, p in enumerate(paths)]
    grids = np.random.default_rng(0).uniform(size=(n, 16, 16)).astype(np.float32)
    thumbs = np.zeros((n, 32, 32, 3), np.uint8)
    k = max(labels) + 1
    c = Clustering(np.array(labels), np.linspace(0, 1, 4), k, k, np.zeros((n, 2), np.float32),
                   np.eye(n, k, dtype=np.float32), 3)
    cls = ClassStrategies(0, "disc", entries, grids, c, summarise(grids, thumbs, entries, c))
    return StrategiesResult(name, "gradcam", None, 16, [cls], ["disc"], True), compare


def test_outputs_and_report_section(tmp_path):
    from gcam_desktop.strategies.files import markdown, write_outputs

    a, compare = _result("ResNet50", [0, 0, 0, 1, 1, 1], tmp_path)
    b, _ = _result("SE-ResNet50", [0, 0, 1, 1, 1, 1], tmp_path)
    cmp = compare(a.classes[0], b.classes[0], a.model, b.model)
    out = tmp_path / "out"
    summary = write_outputs([a, b], [cmp], out)
    data = json.loads((out / "strategies.json").read_text())
    assert [m["model"] for m in data["models"]] == ["ResNet50", "SE-ResNet50"]
    clusters = data["models"][0]["classes"][0]["clusters"]
    assert [c["size"] for c in clusters] == [3, 3]
    assert clusters[0]["accuracy"] == 2 / 3  # image 0 is predicted 1, the folder says 0
    for c in clusters:
        montage = Image.open(out / c["montage"])
        assert montage.height > 96 and montage.width > 96 * 2
    assert data["comparisons"][0]["moved"] == [str(tmp_path / "img2.png")]
    text = "\n".join(markdown(summary))
    assert "## Strategies (spectral relevance analysis)" in text and "### SE-ResNet50" in text
    assert "| disc | ResNet50 → SE-ResNet50 | 6 |" in text and "1: img2.png" in text
