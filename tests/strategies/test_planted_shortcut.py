"""End to end: a synthetic set with a planted shortcut, a small model trained on it, and
`gcam-evaluate --strategies` must put the marked images of the class together in one cluster
whose mean map lights the mark.

Measured (3 classes x 40 images of 32 px, 30 % of `disc` marked, the mark their only evidence;
small CNN, 8 epochs; Grad-CAM at its default layer): the cluster holding the marked images had
purity 1.00 and recall 1.00 (12 of 12), its mean map 0.78 over the mark against 0.05 elsewhere.
The thresholds below leave room for another machine's arithmetic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

PURITY_MIN = 0.8
RECALL_MIN = 0.8
MARK_CONTRAST_MIN = 2.0  # mean map over the mark / mean map elsewhere


@pytest.mark.slow  # trains a model (a minute or more on 2 busy cores)
def test_planted_shortcut_is_found(tmp_path):
    from gcam_desktop.cli.evaluate import main as evaluate
    from training.config import TrainConfig
    from training.run import train
    from training.synth import make_synthetic

    data = tmp_path / "shortcut"
    manifest = make_synthetic(data, classes=3, per_class=40, size=32, seed=0, shortcut=(0, 0.3), shortcut_only=True)
    # No horizontal flips: the mark stays in its corner, as a watermark does.
    train(TrainConfig(data=str(data), archs=["small_cnn"], out=str(tmp_path / "run"), epochs=8, batch_size=16,
                      lr=2e-3, hflip=False, input_size=32, val_fraction=0.2, test_fraction=0.0, dup_check=False,
                      seed=0, workers=0), on_event=lambda e: None)
    # The set has no copies by construction; at 32 px the hash with random weights (no ImageNet
    # weights here) joined 13 of the 40 distinct discs, the marked ones among them (docs/adr/0031).
    out = tmp_path / "eval"
    best = tmp_path / "run" / "small_cnn" / "best.pt"
    twin = tmp_path / "twin" / "best.pt"  # the same weights under a second name: the comparison must say "the same"
    twin.parent.mkdir()
    shutil.copyfile(best, twin)
    assert evaluate([str(data), "--checkpoint", str(best), str(twin), "--strategies",
                     "--strategies-class", "disc", "--steps", "2", "--resamples", "10", "--no-baselines",
                     "--no-dup-check", "--strategies-keep-duplicates", "-o", str(out)]) == 0

    report = json.loads((out / "strategies.json").read_text())
    first, second = report["models"]
    [disc] = first["classes"]
    [comparison] = report["comparisons"]
    assert (comparison["a"], comparison["b"]) == (first["model"], second["model"])
    assert comparison["adjusted_rand_index"] == 1.0 and comparison["moved"] == []
    marked = {str((data / r["image"]).resolve()) for r in manifest["images"] if r.get("shortcut")}
    assert len(marked) == 12
    # A collapsed near-duplicate counts in its representative's cluster.
    members = [{str(Path(p).resolve()) for p in c["members"]} for c in disc["clusters"]]
    dups = {str(Path(pt["path"]).resolve()): [str(Path(d).resolve()) for d in pt["duplicates"]] for pt in disc["points"]}
    members = [m | {d for p in m for d in dups.get(p, [])} for m in members]
    best_cluster = max(range(len(members)), key=lambda i: len(members[i] & marked))
    purity = len(members[best_cluster] & marked) / len(members[best_cluster])
    recall = len(members[best_cluster] & marked) / len(marked)
    print(f"cluster {best_cluster} of {len(members)}: purity {purity:.2f}, recall {recall:.2f}")
    assert purity >= PURITY_MIN and recall >= RECALL_MIN

    mean_map = np.array(disc["clusters"][best_cluster]["mean_map"])
    x0, y0, x1, y1 = manifest["shortcut"]["mark_box"]
    g = mean_map.shape[0] / 32  # the grid's cells per pixel
    over = np.zeros_like(mean_map, bool)
    over[int(y0 * g):int(np.ceil(y1 * g)), int(x0 * g):int(np.ceil(x1 * g))] = True
    contrast = mean_map[over].mean() / mean_map[~over].mean()
    print(f"mean map over the mark {mean_map[over].mean():.2f}, elsewhere {mean_map[~over].mean():.2f}")
    assert contrast >= MARK_CONTRAST_MIN

    # The files: strategies.json, one montage per cluster, and the report's section.
    for c in disc["clusters"]:
        assert (out / c["montage"]).is_file()
    md = (out / "report.md").read_text()
    assert "## Strategies (spectral relevance analysis)" in md and disc["clusters"][best_cluster]["montage"] in md
    assert "### The same classes clustered by each model" in md
    assert json.loads((out / "report.json").read_text())["strategies"]["file"] == "strategies.json"
