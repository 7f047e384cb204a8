"""The frozen app's runtime hook: a windowed build starts with sys.stdout None, yet the trainer's
events must still reach the GUI through the pipe the training tab gives it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the bundle's tests (make test-fast leaves them out)

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "packaging" / "hooks" / "rthook_gcam_desktop.py"

# What a windowed PyInstaller build (or pythonw) hands the entry script: no stream objects.
WINDOWED = "import sys, os, runpy\nsys.stdout = sys.__stdout__ = sys.stderr = sys.__stderr__ = None\n"


def run(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, **kwargs)


def test_trainer_events_reach_the_pipe_when_the_streams_start_as_none():
    code = WINDOWED + (
        f"runpy.run_path({str(HOOK)!r})\n"
        "from training.events import JsonLinesWriter, StdoutGuard, make_event\n"
        "guard = StdoutGuard()\n"
        "JsonLinesWriter(guard.stream)(make_event('error', message='through the pipe', arch=None))\n"
        "print('human text')\n"   # after the guard: goes to stderr, never into the event stream
        "guard.restore()\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "through the pipe"
    assert "human text" in result.stderr


def test_without_any_descriptor_printing_goes_to_the_null_device():
    code = ("import os, sys, runpy\n"
            "os.close(0); os.close(1); os.close(2)\n"  # a GUI launch with no handles at all
            "sys.stdin = sys.__stdin__ = sys.stdout = sys.__stdout__ = sys.stderr = sys.__stderr__ = None\n"
            f"runpy.run_path({str(HOOK)!r})\n"
            "print('nowhere'); sys.stderr.write('nowhere either\\n'); sys.stdin.read()\n"
            "ok = sys.stdout.name == os.devnull and sys.__stdout__ is sys.stdout\n"
            "sys.exit(0 if ok else 3)\n")
    assert run(code).returncode == 0


def test_streams_that_exist_are_left_alone_and_torch_compile_is_disabled():
    code = (f"import sys, os, runpy\nbefore = sys.stdout\nos.environ.pop('TORCH_COMPILE_DISABLE', None)\n"
            f"runpy.run_path({str(HOOK)!r})\n"
            "assert sys.stdout is before\n"
            "print(os.environ['TORCH_COMPILE_DISABLE'])\n")
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
