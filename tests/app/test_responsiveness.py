"""The UI thread never runs a model: a QTimer heartbeat keeps beating (no gap > 100 ms) while
the worker explains with three ResNet50s and the trainer trains in its child process.

A gap between beats is the UI thread's own work, waiting for the GIL, or waiting for a CPU
while runnable. The last is the operating system's doing: on a loaded 2-core CI machine other
processes alone cause gaps of 100+ ms. On Linux each gap is therefore measured without the time
the UI thread sat runnable in the run queue (/proc/.../schedstat): what remains is what this
program did to itself (UI work, GIL held by the worker). Elsewhere the raw gap is used.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QTimer

STALL_LIMIT_S = 0.100


class Heartbeat:
    def __init__(self, interval_ms: int = 10) -> None:
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self.gaps: list[float] = []          # wall seconds between beats
        self.own: list[float] = []           # the same, less run-queue waiting
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self._stat = stat if stat.exists() else None

    def _queued(self) -> float:
        return int(self._stat.read_text().split()[1]) / 1e9 if self._stat else 0.0

    def start(self) -> None:
        self._last, self._last_q = time.perf_counter(), self._queued()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _beat(self) -> None:
        now, q = time.perf_counter(), self._queued()
        self.gaps.append(now - self._last)
        self.own.append((now - self._last) - (q - self._last_q))
        self._last, self._last_q = now, q


def test_no_ui_stall_while_explaining_and_training(qtbot, make_window, tiny_set, class_names, tmp_path, fill_training_form):
    win = make_window(slots_arch=None)
    for slot, arch in zip(("baseline", "SE", "s_se"), ("resnet50", "se_resnet50", "s_se_resnet50")):
        with qtbot.waitSignal(win.service.worker.model_loaded, timeout=120_000):
            win.slots.build_untrained(slot, arch, class_names, input_size=64)
    win.add_paths([tiny_set])
    n = len(list(tiny_set.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)

    tab = win.training
    fill_training_form(tab, tiny_set, tmp_path / "run", epochs=500)
    assert tab.start()

    heart = Heartbeat()
    flick = QTimer()
    flick.setInterval(150)
    flick.timeout.connect(lambda: win.image_list.step(1 if win.image_list.view.currentIndex().row() < n - 1 else -n))
    calls0 = win.service.worker.explain_calls
    # Measure once the trainer is really training (torch imported, first epoch done).
    qtbot.waitUntil(lambda: any(e["event"] == "epoch_end" for e in tab.events), timeout=180_000)
    epochs0 = sum(e["event"] == "epoch_end" for e in tab.events)
    heart.start()
    flick.start()
    t0 = time.monotonic()

    def enough() -> bool:   # at least 6 s, and real work on both sides, however slow the machine
        epochs = sum(e["event"] == "epoch_end" for e in tab.events) - epochs0
        return time.monotonic() - t0 >= 6 and epochs >= 2 and win.service.worker.explain_calls - calls0 >= 6

    qtbot.waitUntil(enough, timeout=120_000)
    heart.stop()
    flick.stop()
    epochs = sum(e["event"] == "epoch_end" for e in tab.events) - epochs0
    with qtbot.waitSignal(tab.run_finished, timeout=120_000):
        tab.stop()

    explained = win.service.worker.explain_calls - calls0
    assert explained >= 6, "the worker should have been busy explaining"
    assert epochs >= 2, "the trainer should have been training"
    assert len(heart.gaps) > 100, f"heartbeat barely ran: {len(heart.gaps)} beats"
    worst = max(heart.own)
    assert worst < STALL_LIMIT_S, (
        f"UI thread stalled {worst * 1000:.0f} ms ({sum(g > STALL_LIMIT_S for g in heart.own)} gaps over "
        f"the limit; raw gaps up to {max(heart.gaps) * 1000:.0f} ms; {explained} explanations, {epochs} epochs)")
