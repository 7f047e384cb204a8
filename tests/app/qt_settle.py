"""Letting Qt finish what a change set off, without a fixed wait.

A resize, a show, a layout request or a zero-time timer is a posted event: delivering the posted
events until a few rounds bring nothing new settles the layout deterministically, where
`qtbot.wait(100)` is a guess that a loaded machine can lose. Anything that waits on another
thread or a real timer needs `qtbot.waitUntil` / `waitSignal` instead.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEventLoop

ROUNDS = 10  # a layout change propagates parent by parent, one round each; the window is shallower


def settle() -> None:
    app = QCoreApplication.instance()
    for _ in range(ROUNDS):
        QCoreApplication.sendPostedEvents()
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
