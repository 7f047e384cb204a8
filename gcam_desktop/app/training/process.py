"""The trainer as a child process: JSON events from its stdout, log text from its stderr.

The GUI and the trainer meet only at this process boundary: the same trainer runs
from a terminal, from here and from the frozen bundle, where `sys.executable` is the app
itself and its `train` subcommand is dispatched before Qt loads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from gcam_desktop.app.common.lifecycle import track

PROTOCOL = 1
TRAINER_NICE = 10
STOP_GRACE_MS = 60_000   # the trainer finishes its step and writes last.pt; then it is killed


def trainer_command(args: list[str]) -> tuple[str, list[str]]:
    """(program, arguments) that start the trainer with `args`, frozen or not."""
    if getattr(sys, "frozen", False):
        return sys.executable, ["train", *args]
    return sys.executable, ["-m", "training", *args]


def _source_root() -> str:
    import gcam_desktop

    return str(Path(gcam_desktop.__file__).resolve().parents[1])


class TrainerProcess(QObject):
    event = Signal(dict)                  # one decoded JSON event
    log = Signal(str)                     # human text (stderr, or stray stdout)
    exited = Signal(int, bool, str)       # exit code, crashed, last stderr lines

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.proc: QProcess | None = None
        self._out = bytearray()
        self._err_tail: list[str] = []
        self.stopping = False
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._kill)

    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def start(self, args: list[str]) -> None:
        if self.running():
            raise RuntimeError("a training run is already in progress")
        if sys.platform == "win32":
            args = [*args, "--stop-on-stdin"]  # SIGTERM cannot be caught there; "stop\n" can
        program, arguments = trainer_command(args)
        proc = track(QProcess(self))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        if not getattr(sys, "frozen", False):
            # Run from a source checkout too: the child finds `training` and `gcam_desktop`.
            root = _source_root()
            old = env.value("PYTHONPATH", "")
            env.insert("PYTHONPATH", root + (os.pathsep + old if old else ""))
        proc.setProcessEnvironment(env)
        proc.setProgram(program)
        proc.setArguments(arguments)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        proc.started.connect(self._lower_priority)
        self.proc, self._out, self._err_tail, self.stopping = proc, bytearray(), [], False
        self.log.emit("$ " + " ".join([Path(program).name, *arguments]))
        proc.start()

    def _lower_priority(self) -> None:
        """A background trainer must not starve the window: renice it before it loads torch
        (threads and data-loading processes it starts later inherit the niceness)."""
        pid = self.proc.processId() if self.proc else 0
        if pid and hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, pid) + TRAINER_NICE))
            except OSError:
                pass  # not permitted or already gone: it then runs at normal priority

    def stop(self) -> None:
        """Ask the trainer to stop: SIGTERM (it saves last.pt and says `stopped`); kill if it hangs."""
        if not self.running():
            return
        self.stopping = True
        if sys.platform == "win32":
            self.proc.write(b"stop\n")  # terminate() only posts WM_CLOSE, which a console child ignores
        else:
            self.proc.terminate()
        self._kill_timer.start(STOP_GRACE_MS)

    def _kill(self) -> None:
        if self.running():
            self.log.emit("the trainer did not stop in time; killing it")
            self.proc.kill()

    def wait(self, ms: int) -> bool:
        return self.proc is None or self.proc.waitForFinished(ms)

    def _read_stdout(self) -> None:
        self._out += bytes(self.proc.readAllStandardOutput())
        *lines, rest = self._out.split(b"\n")
        self._out = bytearray(rest)
        for raw in lines:
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            obj = json.loads(text)
        except ValueError:
            self.log.emit(text)  # stdout should carry only events; show strays rather than lose them
            return
        if not isinstance(obj, dict) or "event" not in obj:
            self.log.emit(text)
            return
        if obj.get("protocol", PROTOCOL) != PROTOCOL:
            self.log.emit(f"event of unknown protocol {obj.get('protocol')!r} ignored: {text[:200]}")
            return
        self.event.emit(obj)

    def _read_stderr(self) -> None:
        text = bytes(self.proc.readAllStandardError()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._err_tail = (self._err_tail + [line])[-20:]
                self.log.emit(line)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        if self.proc is not None:
            self._out += bytes(self.proc.readAllStandardOutput())
            if self._out.strip():
                self._line(bytes(self._out))
            self._out = bytearray()
        crashed = status == QProcess.ExitStatus.CrashExit
        self.exited.emit(int(code), crashed and not self.stopping, "\n".join(self._err_tail[-8:]))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            program = self.proc.program() if self.proc else "?"
            self.log.emit(f"could not start the trainer ({program}): {self.proc.errorString()}")
            self.exited.emit(-1, True, f"could not start the trainer: {self.proc.errorString()}")

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Stop and wait (window closing); the child never outlives the app."""
        if self.running():
            self.stop()
            if not self.proc.waitForFinished(timeout_ms):
                self.proc.kill()
                self.proc.waitForFinished(5000)
