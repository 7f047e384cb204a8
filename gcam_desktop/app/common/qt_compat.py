"""Work-arounds for bugs in the Qt bindings this app runs on. Installed once at start-up.

PySide6 6.12.0 on CPython < 3.12 returns some singletons without taking a reference to them:
every call of a C++ `void` method (setObjectName, resize, setPos, ... and the paint and event
overrides pyqtgraph runs on every repaint) loses one reference to `None`, and every
`Signal.emit()` from Python one to `True`. After enough calls the count reaches zero and
CPython aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"); with pyqtgraph views
that takes minutes of use. CPython 3.12 made None, True and False immortal, which is exactly
the fix applied here: when a probe measures the leak, the three singletons get a reference
count too large to ever reach zero. They are never freed anyway, so nothing else changes; on
a fixed PySide6 or on CPython >= 3.12 nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PINNED = 1 << 40     # ~10^12 leaked calls before trouble: a session would need centuries
_installed = False
TRIALS = 64


def _refcnt(obj) -> ctypes.c_ssize_t:
    return ctypes.c_ssize_t.from_address(id(obj))   # ob_refcnt: the first field of PyObject


def _lost(obj, call) -> int:
    """References to `obj` lost by TRIALS calls (given back at once)."""
    before = sys.getrefcount(obj)
    for _ in range(TRIALS):
        call()
    lost = before - sys.getrefcount(obj)
    if lost > 0:
        _refcnt(obj).value += lost
    return lost


def measure_leaks() -> dict[str, int]:
    """References lost per TRIALS calls: None by a void method, True by Signal.emit()."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    return {"None": _lost(None, lambda: probe.setObjectName("probe")),
            "True": _lost(True, probe.ping.emit)}


def install() -> dict[str, int]:
    """Pin None/True/False where the bindings leak references to them; returns the probe."""
    global _installed
    if _installed or sys.version_info >= (3, 12) or hasattr(sys, "getobjects"):  # immortal / debug build
        _installed = True
        return {}
    _installed = True
    leaks = measure_leaks()
    if any(n >= TRIALS // 2 for n in leaks.values()):
        import PySide6

        for obj in (None, True, False):
            _refcnt(obj).value += _PINNED
        log.info("PySide6 %s leaks references to None/True (%s per %d calls); pinned them "
                 "(see gcam_desktop/app/qt_compat.py)", PySide6.__version__, leaks, TRIALS)
    return leaks
