"""The Similar strip fills in the background without stalling the window; clicking a picture
shows its comparison. The Training tab shows the run's near-duplicate count and opens pairs."""

from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

from gcam_desktop.app.images.similar import STRIP_SIZE
from tests.app.test_responsiveness import STALL_LIMIT_S, Heartbeat


@pytest.mark.slow
def test_similar_strip_fills_without_stalling_and_opens_a_comparison(qtbot, make_window, image_folder_3cls):
    # As in the heartbeat test, the engine has started (torch is loaded: its shared libraries load
    # under the GIL wherever they load); from then on fingerprinting must never stall the window.
    win = make_window()
    qtbot.waitUntil(lambda: win.similar is not None, timeout=10_000)  # installed after the first paint
    strip = win.similar.strip
    # Measured from the hash model's arrival on: loading it (scipy's and the model's first use)
    # happens once per session, in the worker, like the engine's own start.
    with qtbot.waitSignal(win.similar.worker.ready, timeout=120_000):
        win.similar.worker.start()
    heart = Heartbeat()
    heart.start()
    t0 = time.monotonic()
    win.add_paths([image_folder_3cls])
    n = len(list(image_folder_3cls.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)
    # Every picture fingerprinted (torch and the hash model load in the worker meanwhile).
    qtbot.waitUntil(lambda: len(strip.hashes) == n, timeout=300_000)
    qtbot.waitUntil(lambda: len(strip.items()) == STRIP_SIZE, timeout=10_000)
    while time.monotonic() - t0 < 2:  # at least 2 s of beats, however fast the machine
        qtbot.wait(50)
    heart.stop()
    assert len(win.similar.worker.done) == n
    assert len(heart.gaps) > 50, f"heartbeat barely ran: {len(heart.gaps)} beats"
    worst = max(heart.own)
    assert worst < STALL_LIMIT_S, f"UI thread stalled {worst * 1000:.0f} ms while fingerprinting"

    current = win.image_list.current_path()
    shown = strip.items()
    assert current not in [p for p, _ in shown]
    assert [d for _, d in shown] == sorted(d for _, d in shown)  # nearest first, each with its distance
    assert all(0 <= d <= 64 for _, d in shown)

    item = strip.list.item(2)
    rect = strip.list.visualItemRect(item)
    qtbot.mouseClick(strip.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    target = shown[2][0]
    qtbot.waitUntil(lambda: win.image_list.current_path() == target, timeout=5_000)
    assert win.explanations.path == target      # the comparison now shows the clicked picture
    assert strip.current == target and target not in [p for p, _ in strip.items()]


def test_training_tab_shows_duplicates_and_opens_a_pair(qtbot, make_window, image_folder_3cls, tmp_path):
    win = make_window(start_engine=False)
    tab = win.training
    a, b = sorted(str(p.relative_to(image_folder_3cls)) for p in image_folder_3cls.rglob("*.png"))[:2]
    report = {"fingerprint_version": 1, "hash_model": "random-weight resnet50 (seed 0)", "hash_key": "v1-x",
              "hash_model_named": None, "threshold": 16, "cross_split_pair_count": 1,
              "cross_split_pairs": [{"a": a, "a_split": "train", "b": b, "b_split": "test", "distance": 6}],
              "groups": 1, "images_in_groups": 2, "dedup": False, "removed": []}
    run = tmp_path / "run"
    (run / "resnet50").mkdir(parents=True)
    (run / "split.json").write_text(json.dumps({"format": "gcam-desktop/split", "root": str(image_folder_3cls),
                                                "duplicates": report}))
    tab.on_event({"event": "run_started", "arch": "resnet50", "run_dir": str(run / "resnet50"), "sizes": {}})
    assert tab.duplicates.count() == 1 and tab.duplicates.isVisibleTo(tab)
    assert tab.duplicates.label.text().startswith("1 near-duplicate pair across splits")
    qtbot.mouseClick(tab.duplicates.button, Qt.MouseButton.LeftButton)
    dialog = tab.duplicates.dialog
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 4).text() == "6 bits"
    dialog.open_row(0)
    assert win.image_list.current_path() == str(image_folder_3cls / a)
    assert win.list_model.row_of(str(image_folder_3cls / b)) >= 0
    dialog.close()

    tab.dedup.setChecked(True)
    tab.data.setText(str(image_folder_3cls))
    assert "--dedup" in tab.command_args()


@pytest.mark.slow
def test_fingerprinting_waits_until_the_models_worker_is_idle(qtbot, make_window):
    """The hash model must not compete with the panels' first maps: while the models' worker has
    work (here a job that holds it), fingerprinting does not start; once it is idle, it does."""
    import threading

    from gcam_desktop.app.images.similar import IDLE_CHECK_MS

    win = make_window(start_engine=False)
    qtbot.waitUntil(lambda: win.similar is not None, timeout=10_000)
    release = threading.Event()
    win.service.run_job("hold", lambda worker: release.wait(60))
    with qtbot.waitSignal(win.service.worker.engine_ready, timeout=120_000):
        win.start_engine()
    for _ in range(3):  # three idle checks, each of which found the models' worker busy
        with qtbot.waitSignal(win.similar._idle_check.timeout, timeout=10 * IDLE_CHECK_MS):
            pass
    assert win.service.worker.busy() and not win.similar.worker.isRunning()
    release.set()
    qtbot.waitUntil(win.similar.worker.isRunning, timeout=10 * IDLE_CHECK_MS)
    assert not win.service.worker.busy()
