"""Check the built bundle end to end: `python packaging/bundle_test.py` (what `make bundle-test` runs).

Everything runs through dist/gcam-desktop/gcam-desktop itself, offscreen, with the user data
folder in a temporary directory:

1. `--self-test`: the real window and worker explain a bundled sample image (untrained models
   of the three architectures when no checkpoint exists, as on a fresh install).
2. `train synth`: the bundle's trainer writes a tiny synthetic set.
3. `train ...` for two epochs on it: stdout must carry exactly the protocol's JSON events
   (run_started, epoch_end x2, finished, all valid against training.events.SCHEMA).
4. The best checkpoint loads with gcam_desktop.models.load_checkpoint here, and in the bundle:
   `--self-test --weights ARCH=best.pt IMAGE` explains one of the synthetic images with it.
5. Stop: a longer run gets SIGTERM after its first epoch and must answer `stopped`, exit 0
   (signals reach the trainer through the bootloader). Skipped on Windows, where the app
   stops the trainer through stdin instead and SIGTERM cannot be caught.

Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # the checks read training.events and gcam_desktop.models
    sys.path.append(str(ROOT))
APP_NAME = "gcam-desktop"
TRAIN_EPOCHS = 2


def default_exe() -> Path:
    return ROOT / "dist" / APP_NAME / (APP_NAME + (".exe" if sys.platform == "win32" else ""))


def parse_events(stdout: str) -> tuple[list[dict], list[str]]:
    """Decode the trainer's stdout: every non-empty line must be one JSON event."""
    events, problems = [], []
    for n, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            problems.append(f"stdout line {n} is not JSON: {line[:120]!r}")
            continue
        if not isinstance(obj, dict) or "event" not in obj:
            problems.append(f"stdout line {n} is not an event: {line[:120]!r}")
            continue
        events.append(obj)
    return events, problems


def check_training_events(events: list[dict], epochs: int, schema_check=None) -> list[str]:
    """Problems with the event stream of a finished single-arch run ([] when it is right)."""
    problems = []
    names = [e["event"] for e in events]
    core = [n for n in names if n in ("run_started", "epoch_end", "finished", "error", "stopped")]
    wanted = ["run_started"] + ["epoch_end"] * epochs + ["finished"]
    if core != wanted:
        problems.append(f"events {core} are not {wanted}")
    got_epochs = [e.get("epoch") for e in events if e["event"] == "epoch_end"]
    if got_epochs != list(range(1, epochs + 1)):
        problems.append(f"epoch_end epochs {got_epochs} are not 1..{epochs}")
    for e in events:
        if e["event"] == "error":
            problems.append(f"error event: {e.get('message')}")
    if schema_check is not None:
        for e in events:
            problems.extend(schema_check(e))
    return problems


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


class Checker:
    def __init__(self, exe: Path, work: Path, timeout: float) -> None:
        self.exe, self.work, self.timeout = exe, work, timeout
        self.env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
                    "GCAM_DESKTOP_DATA_DIR": str(work / "user-data"), "PYTHONIOENCODING": "utf-8"}
        # The bundle must stand alone: nothing from the source tree or the venv may leak in.
        for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            self.env.pop(var, None)
        self.results: list[tuple[str, bool, str]] = []

    def run(self, args: list[str]) -> tuple[subprocess.CompletedProcess | None, float, str]:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([str(self.exe), *args], env=self.env, cwd=self.work, capture_output=True,
                                  text=True, encoding="utf-8", errors="replace", timeout=self.timeout,
                                  stdin=subprocess.DEVNULL)
            return proc, time.perf_counter() - t0, ""
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0, f"timed out after {self.timeout:.0f} s"

    def record(self, name: str, ok: bool, detail: str) -> bool:
        self.results.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        return ok

    def fail_with_output(self, name: str, proc, why: str) -> bool:
        tail = "" if proc is None else "\n  stderr: " + "\n  stderr: ".join(proc.stderr.strip().splitlines()[-15:])
        return self.record(name, False, why + tail)

    def self_test(self, name: str, extra: list[str]) -> bool:
        proc, secs, err = self.run(["--self-test", *extra])
        if proc is None:
            return self.record(name, False, err)
        report = last_json_line(proc.stdout)
        if proc.returncode != 0 or not report or report.get("self_test") != "ok":
            why = (report or {}).get("reason") or f"exit {proc.returncode}, stdout {proc.stdout[-300:]!r}"
            return self.fail_with_output(name, proc, why)
        models = report.get("models", {})
        summary = ", ".join(f"{slot}={m.get('arch')} {m.get('first_explanation_s')}s" for slot, m in models.items())
        return self.record(name, True, f"{secs:.1f} s; device {report.get('device')}; image "
                                       f"{Path(report.get('image') or '?').name}; {summary}")

    def synth(self, out: Path) -> bool:
        proc, secs, err = self.run(["train", "synth", "--out", str(out), "--classes", "3", "--per-class", "8",
                                    "--size", "32", "--seed", "7"])
        if proc is None:
            return self.record("train synth", False, err)
        images = sorted((out / "images").rglob("*.png"))
        if proc.returncode != 0 or len(images) != 24:
            return self.fail_with_output("train synth", proc, f"exit {proc.returncode}, {len(images)} images (want 24)")
        return self.record("train synth", True, f"{secs:.1f} s; {len(images)} images")

    def train(self, data: Path, run_dir: Path, arch: str) -> Path | None:
        proc, secs, err = self.run(["train", "--data", str(data / "images"), "--arch", arch, "--out", str(run_dir),
                                    "--epochs", str(TRAIN_EPOCHS), "--batch-size", "8", "--input-size", "32",
                                    "--seed", "1"])
        name = f"train {arch} x{TRAIN_EPOCHS} epochs"
        if proc is None:
            self.record(name, False, err)
            return None
        events, problems = parse_events(proc.stdout)
        problems += check_training_events(events, TRAIN_EPOCHS, _schema_check())
        if proc.returncode != 0:
            problems.insert(0, f"exit {proc.returncode}")
        if problems:
            self.fail_with_output(name, proc, "; ".join(problems))
            return None
        finished = next(e for e in events if e["event"] == "finished")
        self.record(name, True, f"{secs:.1f} s; {len(events)} events; test acc {finished.get('accuracy')}; "
                                f"device {events[0].get('device')}")
        return Path(finished["best"])

    def load_here(self, ckpt: Path, arch: str, classes: int) -> bool:
        name = "checkpoint loads"
        try:
            from gcam_desktop.models import load_checkpoint

            model, meta = load_checkpoint(ckpt, map_location="cpu", expect_arch=arch, expect_num_classes=classes)
        except Exception as exc:  # any failure is the finding
            return self.record(name, False, f"{ckpt}: {type(exc).__name__}: {exc}")
        return self.record(name, True, f"{ckpt.name}: {meta['arch']}, classes {meta['class_names']}, "
                                       f"epoch {meta['epoch']}")

    def stop(self, data: Path, run_dir: Path, arch: str) -> bool:
        name = "stop on SIGTERM"
        cmd = [str(self.exe), "train", "--data", str(data / "images"), "--arch", arch, "--out", str(run_dir),
               "--epochs", "200", "--batch-size", "8", "--input-size", "32"]
        proc = subprocess.Popen(cmd, env=self.env, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace")
        lines: list[str] = []
        first_epoch = threading.Event()

        def read_stdout() -> None:  # a thread, so a silent hang cannot block the checker
            for line in proc.stdout:
                lines.append(line)
                if '"epoch_end"' in line:
                    first_epoch.set()

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        err_lines: list[str] = []
        err_reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
        err_reader.start()
        try:
            if not first_epoch.wait(self.timeout):
                raise subprocess.TimeoutExpired(cmd, self.timeout)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return self.record(name, False, f"no first epoch or no exit within {self.timeout:.0f} s")
        reader.join(10)
        err_reader.join(10)
        events, problems = parse_events("".join(lines))
        stopped = [e for e in events if e["event"] == "stopped"]
        if proc.returncode != 0 or not stopped or problems:
            why = f"exit {proc.returncode}, events {[e['event'] for e in events]}; " + "; ".join(problems)
            tail = [ln.rstrip() for ln in err_lines[-10:]]
            return self.record(name, False, why + "\n  stderr: " + "\n  stderr: ".join(tail))
        last = Path(stopped[0]["path"])
        return self.record(name, last.is_file(), f"stopped after epoch {stopped[0]['epoch']}; {last.name} "
                                                 f"{'written' if last.is_file() else 'MISSING'}")


def _schema_check():
    try:
        from training.events import check_event
    except ImportError:  # the checker runs from the venv; without it, structure checks remain
        return None
    return check_event


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the frozen app's self-test and a short training through it.")
    p.add_argument("--exe", type=Path, default=default_exe(), help="the bundle's executable")
    p.add_argument("--arch", default="small_cnn", help="architecture the short training run uses")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per command")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and say where it is")
    args = p.parse_args(argv)
    if not args.exe.is_file():
        print(f"bundle_test.py: {args.exe} does not exist; run `make bundle` first", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="gcam-bundle-test-")
    work = Path(tmp)
    (work / "user-data").mkdir()
    c = Checker(args.exe, work, args.timeout)
    t0 = time.perf_counter()
    c.self_test("self-test (fresh install)", [])
    data = work / "synth"
    if c.synth(data):
        ckpt = c.train(data, work / "run", args.arch)
        if ckpt is not None:
            c.load_here(ckpt, args.arch, classes=3)
            sample = next((data / "images").rglob("*.png"))  # an image of the classes it learned
            c.self_test("self-test with the trained checkpoint", ["--weights", f"{args.arch}={ckpt}", str(sample)])
        if sys.platform != "win32":
            c.stop(data, work / "run-stop", args.arch)
    failed = [name for name, ok, _ in c.results if not ok]
    print(f"\n{time.perf_counter() - t0:.0f} s in all; bundle {args.exe.parent}")
    print(f"bundle-test: {len(c.results) - len(failed)} passed, {len(failed)} failed")
    if args.keep:
        print(f"files kept in {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
