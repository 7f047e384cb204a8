"""A registry of the threads, pools and child processes the app starts, so closing the window
can be checked to have ended them all (tests fail on anything left running)."""

from __future__ import annotations

import weakref

_objects: "weakref.WeakSet" = weakref.WeakSet()


def track(obj):
    """Remember a QThread, QThreadPool, QProcess or threading.Thread; returns it."""
    _objects.add(obj)
    return obj


def still_running() -> list[str]:
    """Descriptions of tracked things that are still running."""
    from PySide6.QtCore import QProcess, QThread, QThreadPool

    out = []
    for obj in list(_objects):
        try:
            if isinstance(obj, QThread) and obj.isRunning():
                out.append(f"QThread {obj.objectName() or obj!r}")
            elif isinstance(obj, QThreadPool) and obj.activeThreadCount() > 0:
                out.append(f"QThreadPool with {obj.activeThreadCount()} active threads")
            elif isinstance(obj, QProcess) and obj.state() != QProcess.ProcessState.NotRunning:
                out.append(f"child process {obj.program()} {' '.join(obj.arguments()[:3])}")
            elif hasattr(obj, "is_alive") and obj.is_alive():
                out.append(f"thread {getattr(obj, 'name', obj)!r}")
        except RuntimeError:
            continue  # the C++ object is gone: nothing runs
    return out
