"""Helpers for the trainer tests: the trainer as a real child process, and its events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(data_dir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["GCAM_DESKTOP_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def trainer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "training", *args]


def run_trainer(*args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(trainer_cmd(*args), capture_output=True, text=True, encoding="utf-8",
                          env=child_env(data_dir), cwd=ROOT, timeout=timeout)


def parse_events(stdout: str) -> list[dict]:
    """Every stdout line must be one JSON event: anything else fails the test."""
    events = []
    for line in stdout.splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict) and "event" in obj, line
        events.append(obj)
    return events


SMALL = ["--input-size", "32", "--batch-size", "8", "--val-fraction", "0.2", "--test-fraction", "0.2"]


def wait_for_hold(proc: subprocess.Popen) -> list[str]:
    """Read a trainer's stderr until rank 0 says it holds (GCAM_TRAIN_HOLD_AFTER_STEPS): a stop
    sent now lands at that known step. The lines read, for failure messages."""
    from training.stopping import HOLDING

    lines = []
    for line in proc.stderr:
        lines.append(line)
        if f": {HOLDING} after step" in line and not line.startswith("[rank"):
            return lines
    raise AssertionError("the trainer ended without holding:\n" + "".join(lines))
