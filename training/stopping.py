"""Stop requests: SIGINT / SIGTERM, a "stop" line on stdin, or a call, all setting one flag.

The training loop polls the flag after every optimizer step, so a stop ends the current step,
never interrupts one. Windows cannot deliver SIGTERM to a child process, hence the stdin line
(`--stop-on-stdin`). A second Ctrl-C while stopping restores Python's default behaviour and
raises KeyboardInterrupt: the way out when the user does not want to wait for the save.
Torch-free.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Mapping, TextIO

# Test-only hooks, read from the environment by gcam-train (never set in normal use): they make
# the stop tests deterministic, which on a loaded machine raced on how many epochs ran before
# the test's signal arrived.
#   GCAM_TRAIN_STOP_AFTER_STEPS=N  request the clean stop a SIGTERM asks for, after N optimizer steps
#   GCAM_TRAIN_HOLD_AFTER_STEPS=N  after N optimizer steps, wait until a stop is requested: a real
#                                  SIGTERM or "stop" line then arrives at a known step
STOP_AFTER_ENV = "GCAM_TRAIN_STOP_AFTER_STEPS"
HOLD_AFTER_ENV = "GCAM_TRAIN_HOLD_AFTER_STEPS"
HOLDING = "holding"  # in the stderr line saying the hold began, which tests wait for


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self._installed: dict[int, object] = {}
        self._listeners: list[Callable[[str], None]] = []
        self.steps = 0  # optimizer steps this process has counted (step_done)
        self._stop_after: int | None = None
        self._hold_after: int | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()
            for fn in self._listeners:
                fn(reason)

    def on_set(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    # -- test hooks (see STOP_AFTER_ENV) ---------------------------------------------------
    def use_test_hooks(self, environ: Mapping[str, str] = os.environ) -> None:
        """Arm the test-only hooks named in `environ` (ValueError for a value that is not a count)."""
        for name, attr in ((STOP_AFTER_ENV, "_stop_after"), (HOLD_AFTER_ENV, "_hold_after")):
            if environ.get(name):
                try:
                    setattr(self, attr, int(environ[name]))
                except ValueError:
                    raise ValueError(f"{name} must be a whole number of steps, not {environ[name]!r}") from None

    def step_done(self) -> bool:
        """Count one optimizer step; True when the trainer should now hold until a stop arrives."""
        self.steps += 1
        if self.steps == self._stop_after:
            self.set(f"{STOP_AFTER_ENV}={self._stop_after}")
        # Not "and not is_set()": with several processes all must hold at the same step (they
        # poll the agreed flag together), whichever of them heard the stop already.
        return self.steps == self._hold_after

    # -- signals ---------------------------------------------------------------------------
    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self._event.is_set() and signum == signal.SIGINT:
            self.uninstall()
            raise KeyboardInterrupt
        self.set(name)

    def install_signal_handlers(self) -> None:
        """Catch SIGINT and SIGTERM (main thread only; elsewhere this is a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGBREAK", None)):
            if sig is not None and sig not in self._installed:
                try:
                    self._installed[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):  # pragma: no cover - exotic platforms
                    pass

    def uninstall(self) -> None:
        for sig, old in self._installed.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass
        self._installed.clear()

    # -- stdin -----------------------------------------------------------------------------
    def watch_stdin(self, stream: TextIO | None = None) -> threading.Thread:
        """Set the flag when a line reading "stop" arrives (daemon thread; EOF ends the watch)."""
        stream = stream if stream is not None else sys.stdin

        def watch() -> None:
            try:
                for line in stream:
                    if line.strip().lower() == "stop":
                        self.set("stdin")
                        return
            except (OSError, ValueError):
                return

        thread = threading.Thread(target=watch, name="stop-on-stdin", daemon=True)
        thread.start()
        return thread
