"""The Quality tab: real models on a tiny masked folder, scored on the panel's own thread."""

import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from gcam_desktop.app.quality.filters import filter_scores, quality_of  # noqa: E402
from gcam_desktop.app.quality.sources import QualityModel, coerce_models  # noqa: E402
from gcam_desktop.app.quality.tab import QualityTab  # noqa: E402
from gcam_desktop import evaluation as E  # noqa: E402
from gcam_desktop.imaging import load_image  # noqa: E402
from gcam_desktop.imaging.preprocess import preprocess_for  # noqa: E402
from gcam_desktop.models import build_model, load_checkpoint, make_meta, save_checkpoint  # noqa: E402
from qt_settle import settle

CLASSES = ["disc", "square"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """set/images/<class>/i.png with set/masks/<class>/i.png: a bright square object."""
    root = tmp_path_factory.mktemp("set")
    rng = np.random.default_rng(0)
    paths = []
    for c in CLASSES:
        (root / "images" / c).mkdir(parents=True)
        (root / "masks" / c).mkdir(parents=True)
        for i in range(3):
            img = rng.integers(0, 90, (40, 40, 3), dtype=np.uint8)
            mask = np.zeros((40, 40), np.uint8)
            y, x = rng.integers(0, 24, 2)
            img[y:y + 16, x:x + 16] = 230
            mask[y:y + 16, x:x + 16] = 255
            Image.fromarray(img).save(root / "images" / c / f"{i}.png")
            Image.fromarray(mask).save(root / "masks" / c / f"{i}.png")
            paths.append(str(root / "images" / c / f"{i}.png"))
    (root / "images" / "disc" / "broken.png").write_bytes(b"not a png")
    paths.append(str(root / "images" / "disc" / "broken.png"))
    return root, paths


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("small_cnn", len(CLASSES))
        files.append(str(save_checkpoint(out / f"cnn{seed}.pt", model, make_meta("small_cnn", CLASSES, input_size=32))))
    return files


@pytest.fixture
def panel(qtbot, checkpoints):
    meta = make_meta("small_cnn", CLASSES, input_size=32)
    p = QualityTab(lambda: [QualityModel("cnn-a", meta, path=checkpoints[0]),
                                ("cnn-b", meta, checkpoints[1])], device="cpu", steps=4)
    qtbot.addWidget(p)
    yield p
    p.shutdown()
    assert not p.thread_running()  # no thread left behind


def test_current_image_curves_and_pointing(qtbot, panel, dataset, checkpoints):
    _, paths = dataset
    panel.set_image(paths[0])
    assert not panel.thread_running()  # hidden: nothing computed, torch work deferred
    panel.show()
    qtbot.waitUntil(lambda: panel.image_score is not None, timeout=60_000)
    s = panel.image_score
    assert s.path == paths[0] and s.mask and s.mask.endswith(os.path.join("masks", "disc", "0.png"))
    assert set(s.models) == {"cnn-a", "cnn-b"}
    # each model's method row, then its three baseline maps' rows, scored with the same metrics
    table = panel.image_view.table
    assert table.rowCount() == 2 * 4
    assert [table.item(r, 0).text() for r in range(4)] == [
        "cnn-a", "Baseline: Random map", "Baseline: Centred Gaussian", "Baseline: Sobel edges"]
    assert {table.item(r, 4).text() for r in range(8)} <= {"hit", "miss"}
    for r in (1, 2, 3, 5, 6, 7):
        assert 0 <= float(table.item(r, 2).text()) <= 1 and 0 <= float(table.item(r, 3).text()) <= 1
        assert "knows nothing of the model" in table.item(r, 0).toolTip()
    edges = s.models["cnn-b"].methods[E.baseline_key("edges")]
    assert table.item(7, 2).text() == f"{edges.deletion_auc:.3f}"
    assert E.baseline_key("random") in s.models["cnn-a"].methods and math.isnan(edges.road_morf)  # no ROAD
    for plot in (panel.image_view.deletion_plot, panel.image_view.insertion_plot):
        curves = plot.plotItem.listDataItems()
        assert len(curves) == 2 and len(curves[0].yData) == 5  # steps + 1 points per model
    # the curves follow the true class (disc = 0) from / to the full image's probability
    model, meta = load_checkpoint(checkpoints[0])
    with torch.no_grad():
        p = torch.softmax(model(preprocess_for(meta, load_image(paths[0]))[None]), 1)[0, 0].item()
    m = s.models["cnn-a"].methods["gradcam"]
    assert m.target == 0 and s.models["cnn-a"].true == 0
    assert m.deletion_curve[0] == pytest.approx(p, abs=1e-5) and m.insertion_curve[-1] == pytest.approx(p, abs=1e-5)
    assert 0 <= m.deletion_auc <= 1 and 0 <= m.insertion_auc <= 1
    # its texts: the image and its folder named, the method as on the Compare tab, no flags
    status = panel.status.text()
    assert os.path.basename(paths[0]) in status and os.path.dirname(paths[0]) in status
    assert panel.method_box.currentText() == "Grad-CAM \u00b7 each model's default layer"
    assert panel.method == "gradcam" and "--" not in status
    headers = panel.image_view.table
    assert all(headers.horizontalHeaderItem(c).toolTip() for c in range(headers.columnCount()))
    assert "lower is better" in headers.horizontalHeaderItem(2).toolTip()


def test_newer_image_supersedes_older(qtbot, panel, dataset):
    _, paths = dataset
    panel.show()
    panel.set_image(paths[0])
    panel.set_image(paths[3])
    qtbot.waitUntil(lambda: panel.image_score is not None, timeout=60_000)
    assert panel.image_score.path == paths[3]
    assert panel.worker.images_scored <= 2  # the first was superseded or its result dropped


@pytest.mark.slow
def test_folder_job_fills_table_answers_and_filters(qtbot, panel, dataset):
    root, paths = dataset
    panel.set_folder(paths, root=root / "images")
    with qtbot.waitSignal(panel.folderScored, timeout=120_000) as blocker:
        panel.start_folder()
    summary = blocker.args[0]
    assert len(panel.scores) == 6 and len(panel.skipped) == 1
    assert "broken.png" in panel.skipped[0].path
    fv = panel.folder_view
    assert fv.table.rowCount() == 2 * 4  # each model's method row and its three baseline rows
    assert fv.table.item(3, 0).text() == "Baseline: Sobel edges" and fv.table.item(3, 2).text() == "6"
    assert fv.table.item(3, 6).text().count("[") == 1  # deletion AUC: a mean and its interval
    last = 1  # the marks next to the model's name, read without scrolling
    assert fv.table.horizontalHeaderItem(last).text() == "vs baselines"
    for r in (0, 4):
        mark = fv.table.item(r, last).text()
        assert mark.startswith("beats: random ") and " centre " in mark and " edges " in mark, mark
        tip = fv.table.item(r, last).toolTip()
        assert "Baseline: Sobel edges" in tip and "exact McNemar" in tip and "Wilcoxon" in tip and "Holm" in tip
    tests = [t for t in summary["baseline_tests"] if t["model"] == "cnn-a" and t["method"] == "gradcam"]
    assert [t["baseline"] for t in tests] == ["random", "centre", "edges"]
    # six images cannot show a method beats the edge detector: said in words
    assert not fv.edges_area.isHidden() and "does not beat the Sobel edge map" in fv.edges.text()
    assert panel.folder_view.progress.value() == 7
    names = [m["name"] for m in summary["models"]]
    assert names == ["cnn-a", "cnn-b"]
    acc = summary["models"][0]["accuracy"]
    assert acc["n"] == 6 and acc["lo"] <= acc["mean"] <= acc["hi"]
    assert summary["models"][0]["methods"]["gradcam"]["pointing_game"]["n"] == 6
    assert "Cannot answer" in panel.folder_view.answer.text()  # two small CNNs: no baseline / SE pair
    panel.folder_view.filter_box.setCurrentText("all")
    assert panel.folder_view.image_list.count() == 6
    panel.folder_view.filter_box.setCurrentText("correct")
    correct = panel.folder_view.image_list.count()
    panel.folder_view.filter_box.setCurrentText("wrong")
    assert correct + panel.folder_view.image_list.count() == 6  # every image is labelled by its folder
    panel.folder_view.filter_box.setCurrentText("models disagree")
    assert panel.folder_view.image_list.count() == sum(not s.models_agree for s in panel.scores)
    panel.folder_view.filter_box.setCurrentText("lowest quality first")
    qs = [quality_of(s, "gradcam") for s in filter_scores(panel.scores, "lowest quality first", "gradcam")]
    assert qs == sorted(qs) and panel.folder_view.image_list.count() == 6
    with qtbot.waitSignal(panel.imageActivated) as act:
        panel.folder_view.image_list.itemActivated.emit(panel.folder_view.image_list.item(0))
    assert act.args[0] in paths


@pytest.mark.slow
def test_cancel_stops_within_an_image(qtbot, panel, dataset):
    root, paths = dataset
    panel.set_folder(paths * 5, root=root / "images")
    panel.start_folder()
    qtbot.waitUntil(lambda: len(panel.scores) >= 1, timeout=60_000)
    panel.cancel_folder()
    qtbot.waitUntil(lambda: not panel.folder_running, timeout=60_000)
    assert len(panel.scores) + len(panel.skipped) < 35
    assert panel.status.text().startswith("Cancelled after")
    assert panel.folder_view.score_button.isEnabled()


def test_no_models_says_so(qtbot):
    p = QualityTab(lambda: [], device="cpu")
    qtbot.addWidget(p)
    p.show()
    p.set_image("/nowhere.png")
    assert p.status.text() == "No models loaded"
    assert not p.thread_running()
    p.shutdown()


# ---------------------------------------------------------------------------------- pure helpers

def _score(path, preds, correct, ins, dele):
    models = {}
    for i, (pred, ok) in enumerate(zip(preds, correct)):
        ms = E.MethodScore(0, math.nan, math.nan, dele[i], ins[i], 0.0, 0.0)
        models[f"m{i}"] = E.ModelScore(pred, 0.9, None if ok is None else (pred if ok else pred + 1), {"gradcam": ms})
    return E.ImageScore(path, None, models)


def test_filters():
    a = _score("a", [0, 0], [True, True], [0.9, 0.8], [0.1, 0.2])   # quality 0.7
    b = _score("b", [0, 1], [True, False], [0.3, 0.3], [0.3, 0.5])  # quality -0.1
    c = _score("c", [1, 1], [False, False], [0.6, 0.6], [0.4, 0.4])  # quality 0.2
    d = _score("d", [1, 1], [None, None], [0.5, 0.5], [0.5, 0.5])   # unlabelled, quality 0
    scores = [a, b, c, d]
    paths = lambda kind: [s.path for s in filter_scores(scores, kind, "gradcam")]  # noqa: E731
    assert paths("all") == ["a", "b", "c", "d"]
    assert paths("correct") == ["a"]
    assert paths("wrong") == ["b", "c"]
    assert paths("models disagree") == ["b"]
    assert paths("lowest quality first") == ["b", "d", "c", "a"]
    with pytest.raises(ValueError, match="unknown filter"):
        filter_scores(scores, "best", "gradcam")


def test_coerce_models_accepts_tuples_mappings_and_dataclasses():
    a = QualityModel("a", {"arch": "resnet50"}, "/x.pt")
    got = coerce_models([a, ("b", {"arch": "small_cnn"}, "/y.pt"), {"name": "c", "meta": {}, "model": 5}])
    assert [g.name for g in got] == ["a", "b", "c"]
    assert got[1].path == "/y.pt" and got[2].model == 5 and got[2].path is None


def test_flat_insertion_curves_are_called_inconclusive():
    from gcam_desktop.app.quality.image_view import insertion_cannot_separate

    assert insertion_cannot_separate([[0.99, 1.0, 1.0], [0.97, 0.99, 1.0]])
    assert not insertion_cannot_separate([[0.2, 0.9, 1.0], [0.99, 1.0, 1.0]])
    assert not insertion_cannot_separate([])


def test_flat_insertion_title_is_short_and_the_plots_fit_a_1024_window(qtbot):
    """The "cannot separate" statement used to be the plot's whole title; a plot title does not
    wrap, and it pushed the insertion plot past the right edge of a 1024-px window."""
    from gcam_desktop.app.quality.image_view import INSERTION_FLAT_TITLE, ImageScoresView

    view = ImageScoresView()
    qtbot.addWidget(view)
    view.resize(1012, 560)
    view.show()
    flat = [1.0, 0.99, 1.0, 1.0]
    score = E.ImageScore("x.png", None, {
        f"m{i}": E.ModelScore(0, 0.9, 0, {"gradcam": E.MethodScore(0, math.nan, math.nan, 0.1, 0.99, 0.0, 0.0,
                                                                    [1.0, 0.2, 0.1, 0.0], flat)})
        for i in range(3)})
    view.show_score(score, "gradcam", lambda model, cls: f"class {cls}")
    settle()
    assert view.insertion_flat and INSERTION_FLAT_TITLE in view.insertion_plot.plotItem.titleLabel.text
    assert "cannot separate" in view.insertion_plot.toolTip()
    right = view.insertion_plot.mapTo(view, view.insertion_plot.rect().topRight()).x()
    for plot in (view.deletion_plot, view.insertion_plot):
        # the plot drawn inside its widget: a title wider than that widened the plot item past
        # the widget's right edge, where it was cut off (axis, legend and title)
        assert plot.plotItem.width() <= plot.width() + 1, (plot.plotItem.width(), plot.width())
    assert view.insertion_plot.width() == pytest.approx(view.deletion_plot.width(), abs=4)


def test_beats_marks_and_their_tooltip():
    from gcam_desktop.app.quality.folder_view import beat_mark, beats_marks, beats_tip

    def m(verdict):
        return {"verdict": verdict, "test": "exact McNemar", "p": 0.01, "p_holm": 0.03}

    rows = [{"baseline": "random", "metrics": {"pointing_game": m("beats it"), "deletion_auc": m("beats it")}},
            {"baseline": "centre",
             "metrics": {"pointing_game": m("beats it"), "deletion_auc": m("no clear difference")}},
            {"baseline": "edges", "metrics": {"pointing_game": m("worse than it"), "deletion_auc": m("beats it")}}]
    assert beats_marks(rows) == "beats: random \u2713 centre ? edges \u2717"
    assert beat_mark({}) == "?"  # nothing tested is not a pass
    tip = beats_tip(rows, "gradcam", "cnn-a")
    assert "Baseline: Centred Gaussian: ?" in tip
    assert "pointing game: worse than it (exact McNemar p = 0.01, Holm-adjusted 0.03)" in tip


@pytest.mark.slow
def test_the_folder_view_with_baseline_rows_fits_the_tab_at_1024_by_700(qtbot, panel, dataset, tmp_path):
    """The tab's share of a 1024 x 700 window (less the tab bar and the top row): the table with
    its baseline rows, the edge-detector words and the image list all inside, none squeezed out."""
    root, paths = dataset
    panel.set_folder(paths[:3], root=root / "images")
    panel.tabs.setCurrentWidget(panel.folder_view)
    panel.resize(1016, 640)
    panel.show()
    with qtbot.waitSignal(panel.folderScored, timeout=120_000):
        panel.start_folder()
    settle()
    fv = panel.folder_view
    assert panel.minimumSizeHint().height() <= 640 and panel.minimumSizeHint().width() <= 1016
    assert fv.edges.isVisible() and fv.edges.text()
    area = fv.rect()
    for w in (fv.table, fv.edges_area, fv.answer, fv.image_list, fv.score_button):
        top_left = w.mapTo(fv, w.rect().topLeft())
        assert area.contains(top_left) and area.contains(w.mapTo(fv, w.rect().bottomRight())), w
    assert fv.table.viewport().height() >= 3 * fv.table.rowHeight(0)  # rows to read, not a sliver
    assert fv.image_list.height() >= 40
    assert fv.grab().save(str(tmp_path / "folder.png"))  # a picture of it to look at
