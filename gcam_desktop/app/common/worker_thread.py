"""The one base of the app's background threads: a command queue and superseding requests.

A `WorkerThread` is a QThread whose loop serves, in order:
  1. commands, bound callables queued with `call(fn, *args)`, run one after the other in
     the order they came (load a model, scan a folder, start a folder job, a batch export);
  2. requests, `submit(key, fn, item)`: at most one waits per key, a newer one replaces the
     queued one (flicking through 100 images leaves one request per panel, never a backlog);
     the one already running finishes (torch cannot be interrupted mid-operation);
  3. `background_step()`, one small unit of a long job the subclass keeps (the Quality tab's
     folder, one image at a time), so commands and requests never wait for a whole job.
`cancel()` flags the running command (it polls `cancelled()`), `stop()` drops everything
queued and ends the loop once the running item is done; `shutdown()` also waits for it.

Signals declared on a subclass are emitted from the loop and reach receivers in the UI
thread queued (the thread object itself lives in the UI thread, its loop does not).
Work that needs torch imports it in `setup()`, which runs in the thread: never on the UI
thread, and only once the thread starts. On Linux the thread can lower its own priority
(`nice`), inherited by the threads torch starts from it (docs/adr/0005).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections import OrderedDict, deque
from typing import Any, Callable, Hashable

from PySide6.QtCore import QThread

from gcam_desktop.app.common.lifecycle import track


class WorkerThread(QThread):
    def __init__(self, name: str, *, nice: int = 0, autostart: bool = False) -> None:
        """`autostart`: the first queued command or request starts the thread; otherwise the
        owner calls `start()` (the inference worker waits for the window's first paint)."""
        super().__init__()
        self.setObjectName(name)
        self._nice = nice
        self._autostart = autostart
        self._cv = threading.Condition()
        self._commands: deque[tuple[Callable, tuple, dict]] = deque()
        self._requests: OrderedDict[Hashable, tuple[Callable, Any]] = OrderedDict()
        self._stopping = False
        self._active = False            # a command or request is running
        self._cancel = threading.Event()
        self.superseded = 0             # requests replaced before they ran (tests read it)
        track(self)

    # -- any thread --------------------------------------------------------------------------
    def start(self, priority: QThread.Priority = QThread.Priority.LowPriority) -> None:
        if not self.isRunning():
            super().start(priority)

    def call(self, fn: Callable, *args, **kwargs) -> None:
        """Queue the command fn(*args, **kwargs); it runs in this thread after those before it."""
        with self._cv:
            if self._stopping:
                return
            self._commands.append((fn, args, kwargs))
            self._cv.notify()
        self._autostart_now()

    def submit(self, key: Hashable, fn: Callable[[Any], None], item: Any) -> Any | None:
        """Queue fn(item) as the request for `key`; returns the queued item it replaced."""
        with self._cv:
            if self._stopping:
                return None
            replaced = self._requests.pop(key, (None, None))[1]
            if replaced is not None:
                self.superseded += 1
            self._requests[key] = (fn, item)
            self._cv.notify()
        self._autostart_now()
        return replaced

    def withdraw(self, key: Hashable, keep: Callable[[Any], bool] | None = None) -> Any | None:
        """Drop the request queued for `key` (unless keep(item) says otherwise); returns its item."""
        with self._cv:
            queued = self._requests.get(key)
            if queued is None or (keep is not None and keep(queued[1])):
                return None
            return self._requests.pop(key)[1]

    def queued(self) -> int:
        with self._cv:
            return len(self._requests) + len(self._commands)

    def busy(self) -> bool:
        """Something is queued or running."""
        with self._cv:
            return self._active or bool(self._requests or self._commands)

    def cancel(self) -> None:
        """Ask the running command to end early (it polls `cancelled()`)."""
        self._cancel.set()

    def stop(self) -> None:
        """Drop what is queued and end the loop after the running item."""
        with self._cv:
            self._stopping = True
            self._requests.clear()
            self._commands.clear()
            self._cancel.set()
            self._cv.notify_all()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """stop() and wait for the thread; True when it has ended."""
        self.stop()
        return self.wait(timeout_ms) if self.isRunning() else True

    # -- the worker thread -------------------------------------------------------------------
    def cancelled(self) -> bool:
        return self._cancel.is_set() or self._stopping

    def serve_requests(self) -> bool:
        """Run the queued requests now (a long command calls this between its steps, so the
        panels stay live during a batch export); True when the thread is stopping."""
        while True:
            with self._cv:
                if self._stopping:
                    return True
                if not self._requests:
                    return False
                _, (fn, item) = self._requests.popitem(last=False)
            fn(item)

    def setup(self) -> bool:
        """Runs first, in the thread (imports torch where needed); False ends the thread."""
        return True

    def has_background_work(self) -> bool:
        """True while background_step() has work; asked by this thread only."""
        return False

    def background_step(self) -> None:
        """One small unit of a long job, run when nothing is queued."""

    def teardown(self) -> None:
        """Runs last, in the thread (free what setup() and the commands made)."""

    def command_failed(self, fn: Callable, exc: Exception) -> None:
        """A command raised: the loop goes on (a bug in one command must not end the thread)."""
        traceback.print_exception(exc)

    def run(self) -> None:
        _lower_priority(self._nice)
        if not self.setup():
            return
        try:
            while True:
                with self._cv:
                    self._active = False
                    self._cv.wait_for(lambda: self._stopping or self._commands or self._requests
                                      or self.has_background_work())
                    if self._stopping:
                        break
                    self._active = True
                    command = self._commands.popleft() if self._commands else None
                    request = self._requests.popitem(last=False)[1] if command is None and self._requests else None
                    if command is not None:
                        self._cancel.clear()
                if command is not None:
                    fn, args, kwargs = command
                    try:
                        fn(*args, **kwargs)
                    except Exception as exc:
                        self.command_failed(fn, exc)
                elif request is not None:
                    fn, item = request
                    fn(item)
                else:
                    self.background_step()
        finally:
            with self._cv:
                self._active = False
            self.teardown()

    def _autostart_now(self) -> None:
        if self._autostart and not self.isRunning():
            self.start()


def _lower_priority(nice: int) -> None:
    """Linux keeps a niceness per thread, inherited by the threads started from it (torch's):
    the work then yields the CPU to the UI thread when cores are scarce."""
    if nice and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:
            pass
