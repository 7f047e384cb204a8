"""The Training tab against the real trainer (a child process) on a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.training.tab import TrainingTab
from training.config import TrainConfig
from training.events import SCHEMA


@pytest.fixture
def tab(qtbot):
    t = TrainingTab(Settings.load())
    qtbot.addWidget(t)
    yield t
    t.shutdown()


def test_defaults_are_the_papers_recipe(tab):
    assert (tab.epochs.value(), tab.batch.value(), tab.lr.value(), tab.size.value()) == (100, 128, 1e-3, 128)
    # Written once: the form's defaults are the trainer's (training/config.py), so both agree.
    recipe = TrainConfig()
    assert (tab.epochs.value(), tab.batch.value(), tab.lr.value(), tab.size.value()) == (
        recipe.epochs, recipe.batch_size, recipe.lr, recipe.input_size)
    tab.epochs.setValue(3)
    tab.size.setValue(64)
    tab.use_paper_recipe()
    assert (tab.epochs.value(), tab.size.value()) == (recipe.epochs, recipe.input_size)
    assert tab.archs() == ["resnet50", "se_resnet50", "s_se_resnet50"]   # the paper's comparison
    assert tab.init.text() == ""                                          # from scratch


@pytest.mark.slow
def test_a_run_drives_curves_and_offers_the_best_checkpoint(qtbot, tab, image_folder_3cls, tmp_path, fill_training_form):
    fill_training_form(tab, image_folder_3cls, tmp_path / "run", epochs=2)
    best_cell = []  # "Best val acc" as each best checkpoint arrives, during the run
    tab.process.event.connect(lambda ev: ev["event"] == "checkpoint" and ev["is_best"]
                              and best_cell.append(tab.results.item(tab._row(ev["arch"]), 2).text()))
    with qtbot.waitSignal(tab.run_finished, timeout=180_000) as finished:
        assert tab.start()
        assert tab.running() and not tab.start_btn.isEnabled()
    assert finished.args == [0], tab.log_view.toPlainText()[-2000:]
    kinds = [e["event"] for e in tab.events]
    assert kinds[0] == "run_started" and kinds.count("epoch_end") == 2 and "finished" in kinds
    assert best_cell and all(text.endswith(" %") for text in best_cell), best_cell
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert tab.curves.points("small_cnn", key) == 2, key
    assert "epoch 2/2" in tab.log_view.toPlainText()
    best = tab.best["small_cnn"]
    assert Path(best).is_file() and Path(best).is_relative_to(tmp_path / "run")
    button = tab.load_button("small_cnn")
    with qtbot.waitSignal(tab.load_checkpoint) as load:
        button.click()
    assert load.args == ["small_cnn", best]
    assert tab.start_btn.isEnabled() and not tab.stop_btn.isEnabled()


@pytest.mark.slow
def test_stop_ends_the_run_cleanly_with_a_checkpoint(qtbot, tab, image_folder_3cls, tmp_path, fill_training_form):
    fill_training_form(tab, image_folder_3cls, tmp_path / "run", epochs=500)
    tab.start()
    qtbot.waitUntil(lambda: any(e["event"] == "epoch_end" for e in tab.events), timeout=180_000)
    with qtbot.waitSignal(tab.run_finished, timeout=120_000):
        tab.stop()
    stopped = [e for e in tab.events if e["event"] == "stopped"]
    assert stopped, tab.log_view.toPlainText()[-2000:]
    assert Path(stopped[0]["path"]).is_file()
    assert not tab.running() and "Stopped" in tab.state.text()
    assert tab.error.isHidden()
    # the bar shows where the run stopped, not 100 %
    assert tab.progress.maximum() == 500 and tab.progress.value() < 500
    assert "stopped" in tab.progress.format() and "%p%" not in tab.progress.format()


@pytest.mark.slow
def test_a_failing_run_shows_the_trainers_message(qtbot, tab, tmp_path, fill_training_form):
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    fill_training_form(tab, empty, tmp_path / "run", epochs=1)
    with qtbot.waitSignal(tab.run_finished, timeout=120_000) as finished:
        tab.start()
    assert finished.args[0] != 0
    assert not tab.error.isHidden()
    text = tab.error.text()  # the trainer's own words, naming both empty class folders
    assert "class folders with no images" in text and str(empty / "a") in text and str(empty / "b") in text, text
    assert tab.start_btn.isEnabled()        # the GUI stays usable


@pytest.mark.slow
def test_a_class_too_small_for_validation_is_refused_naming_the_box_and_ticking_it_trains(
        qtbot, tab, tmp_path, fill_training_form):
    from PIL import Image

    from gcam_desktop.app.training.tab import UNVALIDATED_LABEL

    data = tmp_path / "few"
    for cls, n in (("cat", 6), ("fox", 2)):
        (data / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (16, 16), (30 * i, 90, 200 if cls == "cat" else 20)).save(data / cls / f"{i}.png")
    fill_training_form(tab, data, tmp_path / "run", epochs=1)
    assert not tab.unvalidated.isChecked() and "--allow-unvalidated-classes" not in tab.command_args()
    with qtbot.waitSignal(tab.run_finished, timeout=120_000) as refused:
        tab.start()
    assert refused.args[0] != 0
    text = tab.error.text()
    assert "fox (2)" in text and UNVALIDATED_LABEL in text
    assert "--" not in text  # the window names its own box, not the trainer's command-line flag
    assert not (tmp_path / "run").exists()
    tab.unvalidated.setChecked(True)  # the user insists
    assert "--allow-unvalidated-classes" in tab.command_args()
    with qtbot.waitSignal(tab.run_finished, timeout=180_000) as trained:
        tab.start()
    assert trained.args == [0], tab.log_view.toPlainText()[-2000:]
    assert Path(tab.best["small_cnn"]).is_file()
    assert tab.settings["training"]["allow_unvalidated_classes"] is True  # remembered with the form


def test_form_problems_are_caught_before_starting(tab, tmp_path):
    tab.data.setText(str(tmp_path / "nope"))
    assert not tab.start()
    assert "no such folder" in tab.error.text() and not tab.running()


def test_every_trainer_event_has_a_handler_or_is_ignored_on_purpose():
    handled, ignored = set(TrainingTab.EVENT_HANDLERS), set(TrainingTab.IGNORED_EVENTS)
    assert not handled & ignored
    assert handled | ignored == set(SCHEMA), (
        f"events without a handler: {sorted(set(SCHEMA) - handled - ignored)}; "
        f"handlers of events the trainer never sends: {sorted((handled | ignored) - set(SCHEMA))}")


def test_an_event_reaches_its_handler_and_an_unknown_one_is_kept_only(tab):
    tab.on_event({"event": "error", "message": "the data folder vanished"})
    assert not tab.error.isHidden() and "vanished" in tab.error.text()
    tab.on_event({"event": "no_such_event"})
    assert tab.events[-1] == {"event": "no_such_event"}


@pytest.mark.slow
def test_processes_field_launches_ddp_and_the_log_shows_the_world_size(qtbot, tab, tmp_path):
    assert tab.processes.value() == 1 and "--nproc-per-node" not in tab.command_args()
    tab.set_gpu_count(4)  # the engine found 4 GPUs, the user chose nothing: one process each
    assert tab.processes.value() == 4
    args = tab.command_args()
    assert args[args.index("--nproc-per-node") + 1] == "4"
    tab.processes.setValue(2)  # the user's choice wins over a later GPU count
    tab.set_gpu_count(8)
    assert tab.processes.value() == 2
    tab.set_gpu_count(1)
    assert tab.processes.value() == 2
    tab.on_event({"event": "run_started", "arch": "resnet50", "sizes": {"train": 8, "val": 2, "test": 2},
                  "class_names": ["a", "b"], "device": "cpu", "epochs": 1, "world_size": 2, "backend": "gloo",
                  "per_rank_batch": 16})
    assert "2 processes (gloo, 16 images each per step)" in tab.log_view.toPlainText()


def _epoch(arch: str, epoch: int, val_acc: float | None) -> dict:
    from training.events import make_event

    return make_event("epoch_end", arch=arch, epoch=epoch, epochs=3, train_loss=1.0 / epoch, train_acc=0.5,
                      val_loss=1.0, val_acc=val_acc, lr=1e-3, seconds=2.0, images_per_s=9.0)


def test_best_val_acc_is_shown_as_the_trainer_finds_it(tab):
    """During the run, not only at `finished`: each best checkpoint brings its epoch's accuracy."""
    from training.events import check_event, make_event

    events = [
        {"event": "run_started", "arch": "resnet50", "epochs": 3, "sizes": {"train": 8, "val": 2, "test": 2},
         "class_names": ["a", "b"], "device": "cpu", "start_epoch": 0},
        _epoch("resnet50", 1, 0.5),
        make_event("checkpoint", arch="resnet50", path="/runs/r/best.pt", epoch=1, is_best=True),
        make_event("checkpoint", arch="resnet50", path="/runs/r/last.pt", epoch=1, is_best=False),
        _epoch("resnet50", 2, 0.75),
        make_event("checkpoint", arch="resnet50", path="/runs/r/best.pt", epoch=2, is_best=True),
        _epoch("resnet50", 3, 0.625),   # worse: best.pt stays epoch 2's
        make_event("checkpoint", arch="resnet50", path="/runs/r/last.pt", epoch=3, is_best=False),
    ]
    for ev in events[1:]:  # the events the trainer writes (run_started is checked by the real run)
        assert check_event(ev) == [], (ev, check_event(ev))
    cell = []
    for ev in events:
        tab.on_event(ev)
        cell.append(tab.results.item(tab._row("resnet50"), 2).text())
    assert cell == ["\u2014", "\u2014", "50.0 %", "50.0 %", "50.0 %", "75.0 %", "75.0 %", "75.0 %"]
    assert "best so far" in tab.log_view.toPlainText()


def test_shuffled_labels_box_passes_the_option_and_a_chance_result_reads_as_expected(tab):
    """The data-randomisation sanity check: the box's tooltip says what it is for; the trainer's
    finished event for such a run is shown as the expected chance result, not a failure."""
    from gcam_desktop.app.training.tab import in_form_words
    from training.events import check_event, make_event
    from training.loop import SHUFFLED_NOTE

    assert not tab.shuffle.isChecked() and "--shuffle-labels" not in tab.command_args()
    assert "data randomisation sanity check" in tab.shuffle.toolTip()
    tab.shuffle.setChecked(True)
    assert "--shuffle-labels" in tab.command_args()
    assert tab.shuffle.text() in in_form_words("drop --shuffle-labels")
    tab._remember()
    assert tab.settings["training"]["shuffle_labels"] is True   # remembered with the form
    note = f"{SHUFFLED_NOTE} (chance 0.333 with 3 classes; ...)"
    ev = make_event("finished", arch="small_cnn", split="test", accuracy=0.33, loss=1.1, metrics={},
                    report="/r/small_cnn/report.json", best="/r/small_cnn/best.pt", best_epoch=3,
                    best_val_acc=0.3, shuffled_labels=True, note=note)
    assert check_event(ev) == []
    tab.on_event(ev)
    assert note in tab.log_view.toPlainText()
    assert "chance expected" in tab.results.item(tab._row("small_cnn"), 3).text()


def test_probe_boxes_pass_the_options_and_are_remembered(tab):
    """--probe and --keep-every from the form, with the trainer's defaults (probe 4, keep 0), its
    messages naming the boxes, and the choice kept with the form."""
    from gcam_desktop.app.training.tab import in_form_words

    recipe = TrainConfig()
    assert (tab.probe.value(), tab.keep_every.value()) == (recipe.probe, recipe.keep_every) == (4, 0)
    args = tab.command_args()
    assert args[args.index("--probe") + 1] == "4" and "--keep-every" not in args
    tab.probe.setValue(0)
    tab.keep_every.setValue(5)
    args = tab.command_args()
    assert args[args.index("--probe") + 1] == "0" and args[args.index("--keep-every") + 1] == "5"
    assert "(Probe, in the Processes row)" in in_form_words("--probe must be between 0 and 64 images")
    tab._remember()
    assert (tab.settings["training"]["probe"], tab.settings["training"]["keep_every"]) == (0, 5)
    again = TrainingTab(tab.settings)
    try:
        assert (again.probe.value(), again.keep_every.value()) == (0, 5)
    finally:
        again.shutdown()
        again.deleteLater()
