"""Work-arounds for bugs in the Qt bindings this app runs on. Installed once at start-up.

PySide6 6.12.0 on CPython < 3.12: `SignalInstance.emit()` returns `True` without taking a
reference to it, so every signal emitted from Python (pyqtgraph emits many per repaint)
drops the reference count of `True` by one. After a few thousand emits the count reaches
zero and CPython aborts ("Fatal Python error: bool_dealloc"). CPython 3.12 made True and
False immortal, which is exactly the fix applied here: when a probe shows the leak, both
objects get a reference count too large to ever reach zero. Bools are never freed anyway,
so this changes nothing else; on a fixed PySide6 or CPython >= 3.12 nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PINNED = 1 << 40     # ~10^12 leaked emits before trouble: a session would need centuries
_installed = False


def emit_leaks_true(trials: int = 64) -> bool:
    """Does emitting a Python signal lose a reference to True? (Measured, not assumed.)"""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(trials):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:
        ctypes.c_ssize_t.from_address(id(True)).value += lost  # give back what the probe took
    return lost >= trials // 2


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    if sys.version_info >= (3, 12) or hasattr(sys, "getobjects"):  # immortal bools / debug build
        return
    if emit_leaks_true():
        import PySide6

        for obj in (True, False):
            ctypes.c_ssize_t.from_address(id(obj)).value += _PINNED
        log.info("PySide6 %s leaks a reference to True per Signal.emit(); pinned True/False "
                 "(see gcam_desktop/app/qt_compat.py)", PySide6.__version__)
