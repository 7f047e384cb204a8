"""The Training tab's probe strip: the latest epoch's maps over the probe images, the slider back
through the epochs, the weights of an epoch opened on the Compare tab, a finished run's files."""

from __future__ import annotations

import numpy as np
import pytest

from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.training.probe_strip import THUMB
from gcam_desktop.app.training.tab import TrainingTab
from training.events import check_event, make_event
from training.probe import ProbeEpoch, write_epoch

GRID = 4
CLASSES = ["disc", "square", "triangle"]


@pytest.fixture
def tab(qtbot):
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    t = TrainingTab(Settings.load())
    t.resize(1024, 600)
    yield t
    t.shutdown()
    t.close()
    t.deleteLater()
    del t
    # Deleted here, in the main thread, as make_window's windows are: left to a later test's
    # event processing, its plots were painted half torn down (a segfault in the fast tier).
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def _paths(folder) -> list[str]:
    return [str(sorted((folder / c).iterdir())[0]) for c in CLASSES]


def _hot(corner: str) -> np.ndarray:
    """Grids of 3 images, hot in one corner (top-left or bottom-right)."""
    g = np.zeros((3, GRID, GRID), np.float32)
    if corner == "tl":
        g[:, 0, 0] = 1.0
    else:
        g[:, -1, -1] = 1.0
    return g


def _event(arch: str, epoch: int, paths: list[str], corner: str, preds=(0, 1, 2)) -> dict:
    probs = np.full((3, 3), 0.1, np.float32)
    probs[range(3), list(preds)] = 0.8
    p = ProbeEpoch(arch, epoch, "layer2", "gradcam", paths, np.arange(3), np.asarray(preds), probs, _hot(corner),
                   CLASSES, file=f"/runs/r/{arch}/probe/epoch-{epoch:03d}.npz")
    ev = make_event("probe", **p.event_fields(), seconds=0.01)
    assert check_event(ev) == [], check_event(ev)
    return ev


def _redness(tile, where: str) -> int:
    """Red minus blue of the tile's picture near a corner (turbo: hot red, cold blue)."""
    img = tile.icon().pixmap(THUMB, THUMB).toImage()
    w, h = img.width(), img.height()
    x, y = (w // 8, h // 8) if where == "tl" else (w - 1 - w // 8, h - 1 - h // 8)
    c = img.pixelColor(x, y)
    return c.red() - c.blue()


def _started(arch: str) -> dict:
    return {"event": "run_started", "arch": arch, "epochs": 5, "sizes": {"train": 18, "val": 6, "test": 6},
            "class_names": CLASSES, "device": "cpu", "start_epoch": 0}


def test_the_strip_shows_the_latest_epoch_and_the_slider_goes_back(tab, image_folder_3cls, qtbot):
    paths = _paths(image_folder_3cls)
    tab.on_event(_started("resnet50"))
    assert not tab.probes.placeholder.isHidden() and not tab.probes.rows
    tab.on_event(_event("resnet50", 1, paths, "tl", preds=(0, 0, 0)))
    tab.on_event(_event("resnet50", 2, paths, "br"))
    row = tab.probes.rows["resnet50"]
    assert tab.probes.placeholder.isHidden()
    assert row.shown_epoch() == 2 and row.epoch_label.text() == "epoch 2"
    tiles = row.tiles[:3]
    late = [(_redness(t, "tl"), _redness(t, "br")) for t in tiles]  # epoch 2: hot bottom right
    assert tiles[1].text() == "square\n\u2713 80%"
    assert all(t.icon().pixmap(THUMB, THUMB).size().width() == THUMB for t in tiles)  # 32 px pictures, enlarged
    row.slider.setValue(0)  # back to epoch 1
    assert row.shown_epoch() == 1 and row.epoch_label.text() == "epoch 1/2"
    early = [(_redness(t, "tl"), _redness(t, "br")) for t in tiles]  # epoch 1: hot top left
    # the same pictures under the other map: each corner is redder in the epoch whose map is hot there
    assert all(e[0] - l[0] > 40 and l[1] - e[1] > 40 for e, l in zip(early, late)), (early, late)
    assert tiles[1].text() == "square\n\u2717 disc 80%"  # epoch 1 predicted disc for every image
    # a new epoch leaves the chosen one in view; back at the end, the strip follows again
    tab.on_event(_event("resnet50", 3, paths, "br"))
    assert row.shown_epoch() == 1 and row.slider.maximum() == 2
    row.slider.setValue(row.slider.maximum())
    tab.on_event(_event("resnet50", 4, paths, "tl"))
    assert row.shown_epoch() == 4
    # a second model gets its own row
    tab.on_event(_event("se_resnet50", 1, paths, "br"))
    assert list(tab.probes.rows) == ["resnet50", "se_resnet50"]


def test_a_probe_image_opens_with_the_weights_of_the_epoch_shown(tab, image_folder_3cls, qtbot):
    paths = _paths(image_folder_3cls)
    tab.on_event(_started("resnet50"))
    for epoch, corner in ((1, "tl"), (2, "br"), (3, "tl")):
        tab.on_event(_event("resnet50", epoch, paths, corner))
    best, last, kept = "/runs/r/resnet50/best.pt", "/runs/r/resnet50/last.pt", "/runs/r/resnet50/epochs/epoch-002.pt"
    for path, epoch, is_best in ((best, 1, True), (last, 3, False), (kept, 2, False), (last, 3, False)):
        tab.on_event(make_event("checkpoint", arch="resnet50", path=path, epoch=epoch, is_best=is_best))
    row = tab.probes.rows["resnet50"]
    opened = []
    tab.open_probe.connect(lambda *args: opened.append(args))
    row.tiles[2].click()  # epoch 3, shown: last.pt holds it
    row.slider.setValue(1)
    row.tiles[0].click()  # epoch 2: its kept file
    row.slider.setValue(0)
    row.tiles[1].click()  # epoch 1: best.pt
    assert opened == [("resnet50", last, paths[2]), ("resnet50", kept, paths[0]), ("resnet50", best, paths[1])]
    # best.pt moves on to epoch 3: epoch 1's weights are gone, and the picture says so
    tab.on_event(make_event("checkpoint", arch="resnet50", path=best, epoch=3, is_best=True))
    row.tiles[1].click()
    assert len(opened) == 3 and "not kept" in row.tiles[1].toolTip()
    row.slider.setValue(2)
    assert row.checkpoint_for(3) == best  # best.pt is preferred to last.pt (it does not move each epoch)
    # stopped in the middle of an epoch: last.pt holds no epoch's weights any more
    tab.on_event(make_event("stopped", arch="resnet50", epoch=3, step=1, path=last))
    assert row.checkpoint_for(3) == best and last not in tab.probes.weights["resnet50"]


def test_the_finished_run_keeps_its_strip_and_an_earlier_one_is_read_from_its_files(tab, image_folder_3cls, tmp_path,
                                                                                    qtbot):
    paths = _paths(image_folder_3cls)
    tab.on_event(_started("resnet50"))
    tab.on_event(_event("resnet50", 1, paths, "tl"))
    tab._on_exited(0, False, "")  # the run ends: the strip stays
    assert tab.probes.rows["resnet50"].shown_epoch() == 1
    # an arch finished in an earlier session (resumed run): its probe files are read back
    arch_dir = tmp_path / "run" / "se_resnet50"
    for epoch, corner in ((1, "tl"), (2, "br")):
        probs = np.full((3, 3), 0.1, np.float32)
        probs[range(3), range(3)] = 0.8
        write_epoch(arch_dir, ProbeEpoch("se_resnet50", epoch, "layer2", "gradcam", paths, np.arange(3),
                                         np.arange(3), probs, _hot(corner), CLASSES))
    best = str(arch_dir / "best.pt")
    tab.on_event(make_event("finished", arch="se_resnet50", split="test", accuracy=0.9, loss=0.3, metrics={},
                            report=str(arch_dir / "report.json"), best=best, best_epoch=2, best_val_acc=0.9,
                            shuffled_labels=False, note=None))
    row = tab.probes.rows["se_resnet50"]
    assert row.shown_epoch() == 2 and row.checkpoint_for(2) == best and row.checkpoint_for(1) is None
    assert all(_redness(t, "br") - _redness(t, "tl") > 40 for t in row.tiles[:3])
    with qtbot.waitSignal(tab.run_finished, timeout=120_000):
        tab._begin("train", ["--help"], ["resnet50"], 1)  # a new run starts with an empty strip
        assert not tab.probes.rows and not tab.probes.placeholder.isHidden()


@pytest.mark.slow
def test_the_window_opens_a_probe_image_on_the_compare_tab_with_that_epochs_weights(qtbot, make_window, checkpoints,
                                                                                    image_folder_3cls):
    win = make_window()
    image = _paths(image_folder_3cls)[1]
    ckpt = str(checkpoints["b"])  # stands in for an epoch's kept weights
    win.tabs.setCurrentIndex(win.tabs.indexOf(win.training))
    with qtbot.waitSignal(win.service.worker.model_loaded, timeout=60_000) as loaded:
        win.training.open_probe.emit("small_cnn", ckpt, image)
    assert loaded.args[0].path == ckpt and loaded.args[0].arch == "small_cnn"
    assert win.tabs.currentIndex() == 0 and win.image_list.current_path() == image
