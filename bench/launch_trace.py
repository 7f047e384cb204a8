"""Where a launch spends its time before the first heatmaps: one launch, step by step.

Launches the app (offscreen) with the three demo checkpoints (or stand-ins, see bench/app.py)
and one sample image, with the start-up steps wrapped to print seconds since launch and the
thread they ran on: window built, views attached, engine (torch) loaded, each checkpoint
load, each explanation, each result reaching the UI. This is how the Similar strip's hash
model was found competing with the second and third first maps (docs/adr/0015).

    python bench/launch_trace.py            # the timeline of one launch
    python bench/launch_trace.py --child    # (internal) the traced app itself
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# (module, class or None, function) wrapped in the child: the steps between launch and maps.
STEPS = [
    ("gcam_desktop.app.main_window", "MainWindow", "__init__"),
    ("gcam_desktop.app.main_window", "MainWindow", "start_engine"),
    ("gcam_desktop.app.main_window", "MainWindow", "_after_first_paint"),
    ("gcam_desktop.app.main_window", "MainWindow", "_on_engine_ready"),
    ("gcam_desktop.app.inference.worker", "InferenceWorker", "_load_engine"),
    ("gcam_desktop.app.inference.worker", "InferenceWorker", "load_model"),
    ("gcam_desktop.app.inference.worker", "InferenceWorker", "_explain"),
    ("gcam_desktop.app.inference.service", "InferenceService", "_on_result"),
    ("gcam_desktop.app.images.similar", "FingerprintWorker", "setup"),
]


def _child(argv: list[str]) -> int:
    import importlib

    from gcam_desktop.app.__main__ import main, seconds_since_launch

    from PySide6.QtCore import QThread

    lock = threading.Lock()

    def log(what: str) -> None:
        thread = QThread.currentThread().objectName() or threading.current_thread().name
        with lock:  # one write per line: two threads' lines never interleave
            sys.stderr.write(f"{seconds_since_launch():7.3f} s  {thread[:16]:<16} {what}\n")
            sys.stderr.flush()

    def traced(fn, label):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            arg = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            log(f"start {label} {arg}")
            try:
                return fn(*args, **kwargs)
            finally:
                log(f"end   {label} {arg}")
        return call

    for module, cls, name in STEPS:
        owner = getattr(importlib.import_module(module), cls)
        setattr(owner, name, traced(getattr(owner, name), f"{cls}.{name}"))
    return main(argv)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        sys.exit(_child(sys.argv[2:]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from app import ARCHS, _sample, demo_checkpoints  # bench/app.py

    ckpts, what = demo_checkpoints()
    args = [sys.executable, __file__, "--child", "--quit-after-maps", str(_sample())]
    for arch in ARCHS:
        args += ["--weights", f"{arch}={ckpts[arch]}"]
    env = dict(os.environ, GCAM_DESKTOP_DATA_DIR=tempfile.mkdtemp(prefix="gcam-trace-"))
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in r.stderr.splitlines() if " s  " in ln]
    if r.returncode != 0 or not lines:
        raise SystemExit(f"the traced launch failed ({r.returncode}): {r.stderr[-2000:]}")
    print(f"one launch, step by step ({what}); seconds since launch, thread, step:")
    print("\n".join(lines))
    print(f"result: {r.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
