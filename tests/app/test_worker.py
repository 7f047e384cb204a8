"""The inference worker through the real window: supersede, cache, refusals, no UI work."""

from __future__ import annotations

import threading

import pytest

from gcam_desktop.app.inference.messages import ExplainRequest, image_key


def _block_worker(win):
    """Occupy the worker with a job until the returned event is set (requests then queue)."""
    started, release = threading.Event(), threading.Event()

    def hold(worker):
        started.set()
        release.wait(30)

    win.service.run_job("hold", hold)
    assert started.wait(30)
    return release


def _req(win, slot, path, method="gradcam", target=-1):
    info = win.slots.states[slot].info
    return ExplainRequest(slot=slot, path=str(path), image_key=image_key(str(path)),
                          model_token=info.token, method=method, layer="", target=target)


@pytest.fixture
def win(make_window, qtbot, checkpoints, load_slot):
    w = make_window()
    load_slot(w, "baseline", checkpoints["a"])
    return w


def test_newer_request_supersedes_the_queued_one_and_results_are_cached(qtbot, win, image_folder_3cls):
    images = sorted(image_folder_3cls.rglob("*.png"))
    svc, worker = win.service, win.service.worker
    shown = []
    svc.result_ready.connect(lambda r: shown.append(r))
    calls0 = worker.explain_calls
    release = _block_worker(win)
    for p in images:                       # flicking through the list: one request each
        assert svc.request(_req(win, "baseline", p)) is None
    assert worker.queued() == 1            # no backlog: one request per panel waits
    release.set()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=30_000)
    qtbot.waitUntil(lambda: not worker.busy() and worker.queued() == 0, timeout=30_000)  # nothing left to run
    assert worker.explain_calls - calls0 == 1
    assert worker.superseded == len(images) - 1
    assert shown[0].request.path == str(images[-1]) and shown[0].ok
    # The same question again is answered from the cache, without the worker.
    hit = svc.request(_req(win, "baseline", images[-1]))
    assert hit is not None and hit.ok and worker.explain_calls - calls0 == 1
    assert hit.map is shown[0].map
    # Another method or another class is another question.
    with qtbot.waitSignal(svc.result_ready, timeout=30_000):
        assert svc.request(_req(win, "baseline", images[-1], method="layercam")) is None
    with qtbot.waitSignal(svc.result_ready, timeout=30_000) as other:
        assert svc.request(_req(win, "baseline", images[-1], target=2)) is None
    assert other.args[0].target_class == 2
    assert worker.explain_calls - calls0 == 3
    assert len(svc.cache) == 3


@pytest.mark.slow
def test_window_flicking_leaves_no_backlog_and_shows_the_last_image(qtbot, win, image_folder_3cls):
    win.add_paths([image_folder_3cls])
    n = len(list(image_folder_3cls.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)
    calls0 = win.service.worker.explain_calls
    for _ in range(n - 1):
        win.image_list.step(1)
    last = win.list_model.paths[-1]
    assert win.explanations.path == last
    qtbot.waitUntil(lambda: "baseline" in win.explanations.results
                    and win.explanations.results["baseline"].request.path == last, timeout=30_000)
    assert win.service.worker.explain_calls - calls0 < n // 2
    panel = win.view.panels["baseline"]
    assert panel.map is not None and len(panel.predictions.rows) == min(5, 3)


@pytest.mark.slow
def test_bad_checkpoints_are_refused_and_the_slot_keeps_its_model(qtbot, win, checkpoints, image_folder_3cls):
    before = win.slots.states["baseline"].info
    # (A checkpoint of other classes is no longer refused: slots hold any class sets, see
    # test_imagenet_slots.py.)
    for bad, words in ((checkpoints["broken"], "truncated"),
                       (checkpoints["a"].parent / "missing.pt", "no such file")):
        with qtbot.waitSignal(win.service.worker.model_failed, timeout=30_000) as failed:
            win.slots.load("baseline", str(bad))
        slot, path, message = failed.args
        assert str(bad) in message and words in message, message
        card = win.slots.cards[slot]
        assert card.message.isVisible() and message in card.message.text()
    assert win.slots.states["baseline"].info is before          # the card kept what it had ...
    assert win.service.models["baseline"].token == before.token   # ... and so did the service
    # ... and the worker: a request for the kept model's token is explained, not dropped as
    # "the model of this panel changed" (what a half-done load that replaced it would answer).
    with qtbot.waitSignal(win.service.worker.result, timeout=30_000) as answered:
        assert win.service.request(_req(win, "baseline", sorted(image_folder_3cls.rglob("*.png"))[0])) is None
    res = answered.args[0]
    assert res.request.model_token == before.token and res.ok and not res.stale, res.error


def test_wrong_architecture_is_refused_with_the_loaders_message(qtbot, win, checkpoints):
    card = win.slots.cards["SE"]
    card.arch.setCurrentIndex(card.arch.findData("resnet50"))
    with qtbot.waitSignal(win.service.worker.model_failed, timeout=30_000) as failed:
        win.slots.load("SE", str(checkpoints["b"]))
    assert "is a small_cnn checkpoint, not resnet50" in failed.args[2]
    assert win.slots.states["SE"].info is None


@pytest.mark.slow
def test_checkpoint_dropped_on_a_slot_card_loads(qtbot, win, checkpoints, image_folder_3cls):
    from test_image_list import drop

    card = win.slots.cards["SE"]
    with qtbot.waitSignal(win.service.worker.model_loaded, timeout=30_000) as loaded:
        assert drop(card, [checkpoints["b"]])
    info = loaded.args[0]
    assert info.slot == "SE" and info.path == str(checkpoints["b"])
    assert "3 classes" in card.meta.text() and "ep. 3" in card.meta.text() and "val 60%" in card.meta.text()
    assert card.checkpoint.text() == checkpoints["b"].name
    assert str(checkpoints["b"]) == win.settings["recent_checkpoints"][0]
    # An image is not a checkpoint: the card lets it through to the window, which lists it.
    image = next(image_folder_3cls.rglob("*.png"))
    assert drop(card, [image])
    qtbot.waitUntil(lambda: win.list_model.rowCount() == 1, timeout=5000)
    assert win.slots.states["SE"].info is info and win.list_model.paths == [str(image)]


@pytest.mark.slow
def test_unreadable_image_reaches_the_panel_and_the_list(qtbot, win, tmp_path):
    bad = tmp_path / "cat" / "bad.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    win.show_image(str(bad))
    qtbot.waitUntil(lambda: str(bad) in win.list_model.errors, timeout=30_000)
    qtbot.waitUntil(lambda: win.view.panels["baseline"].status.text() == "error", timeout=30_000)
    assert str(bad) in win.view.panels["baseline"].predictions.note


def test_closing_the_window_ends_the_worker_thread(qtbot, make_window):
    from gcam_desktop.app.common.lifecycle import still_running

    w = make_window()
    thread = w.service.worker
    assert thread.isRunning()
    w.close()
    assert thread.isFinished() and not still_running()


def test_an_unavailable_device_falls_back_with_a_message(qtbot):
    from gcam_desktop.app.main_window import MainWindow

    win = MainWindow(device="cuda:7")
    qtbot.addWidget(win)
    try:
        with qtbot.waitSignal(win.service.worker.device_changed, timeout=120_000) as changed:
            win.start_engine()
        device, error = changed.args
        assert "cuda:7" in error and device in ("cpu", "cuda", "mps")
        qtbot.waitUntil(lambda: win.service.ready, timeout=60_000)
    finally:
        win.close()


@pytest.mark.parametrize("case", ["input_size_100000", "std_zeros", "class_names_fewer", "nan_classifier",
                                  "int8_safetensors"])
@pytest.mark.slow
def test_a_checkpoint_that_lies_is_refused_in_its_card_in_one_line(qtbot, win, lying_checkpoints, case):
    """The app's entry point of issue 24's corpus: a slot refuses the file in one line naming the
    file and what is wrong, keeps its model, and the window goes on."""
    refused, _ = lying_checkpoints
    before = win.slots.states["baseline"].info
    with qtbot.waitSignal(win.service.worker.model_failed, timeout=60_000) as failed:
        win.slots.load("baseline", str(refused[case].path))
    slot, _, message = failed.args
    refused[case].assert_refused(message)
    assert win.slots.cards[slot].message.isVisible() and message in win.slots.cards[slot].message.text()
    assert win.slots.states["baseline"].info is before


@pytest.mark.slow
def test_an_honest_float64_checkpoint_loads_in_a_slot(qtbot, win, lying_checkpoints, load_slot):
    _, loads = lying_checkpoints
    load_slot(win, "baseline", loads["float64"])  # a float64 file crashed gcam-evaluate; here it just loads
    assert win.slots.states["baseline"].info.path == str(loads["float64"])
