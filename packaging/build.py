"""Build the desktop bundle: `python packaging/build.py` (what `make bundle` runs).

Runs PyInstaller on packaging/gcam_desktop.spec with dist/ and build/ at the repository root,
then prints the build time, the bundle size and what takes the room, and writes both to
build/bundle-report.json (the numbers the README quotes come from there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "gcam_desktop.spec"
APP_NAME = "gcam-desktop"
# A CUDA build of torch makes a ~4.2 GiB folder; room for it, the work files and some slack.
MIN_FREE_GB = 6.0


def tree_size(path: Path) -> int:
    """Bytes of the files under `path`, links not followed (PyInstaller links duplicates)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def largest_parts(bundle: Path, top: int = 12) -> list[tuple[str, int]]:
    """The biggest entries of the bundle's library folder, by package where there is one
    (nvidia/cudnn, torch, PySide6, ...), so the report says what dominates."""
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    sizes: dict[str, int] = {}
    for entry in internal.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            children = [c for c in entry.iterdir() if c.is_dir() and not c.is_symlink()]
            if entry.name == "nvidia" and children:  # one line per CUDA component
                for c in children:
                    sizes[f"nvidia/{c.name}"] = tree_size(c)
                rest = sum(os.lstat(f).st_size for f in entry.iterdir() if f.is_file())
                if rest:
                    sizes["nvidia/*"] = rest
                continue
            sizes[entry.name] = tree_size(entry)
        elif entry.is_file() and not entry.is_symlink():
            sizes.setdefault("(top-level files)", 0)
            sizes["(top-level files)"] += entry.stat().st_size
    return sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:top]


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def torch_build() -> dict:
    """Which torch the bundle carries (CUDA or CPU-only), asked of the building interpreter."""
    code = ("import json, torch; print(json.dumps({'version': torch.__version__, "
            "'cuda': torch.version.cuda}))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, ValueError, IndexError):
        return {"version": None, "cuda": None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clean", action="store_true", help="drop PyInstaller's cache and build/ first")
    p.add_argument("--log-level", default="WARN", help="PyInstaller log level (default WARN)")
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    p.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder (default build/)")
    args = p.parse_args(argv)

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("build.py: PyInstaller is not installed; run `make bundle` (it installs the "
              "`bundle` extra) or `pip install -e '.[bundle]'`", file=sys.stderr)
        return 2

    dist, work = args.dist.resolve(), args.work.resolve()
    dist.mkdir(parents=True, exist_ok=True)
    old = dist / APP_NAME  # replaced by the new build, so its room counts as free
    free_gb = (shutil.disk_usage(dist).free + (tree_size(old) if old.is_dir() else 0)) / 1024**3
    if free_gb < MIN_FREE_GB:
        print(f"build.py: only {free_gb:.1f} GiB free under {dist}; a bundle of a CUDA torch needs "
              f"about {MIN_FREE_GB:.0f} GiB while it is built", file=sys.stderr)
        return 2

    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
           "--distpath", str(dist), "--workpath", str(work), "--log-level", args.log_level]
    if args.clean:
        cmd.append("--clean")
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    seconds = time.perf_counter() - t0
    if rc != 0:
        print(f"build.py: PyInstaller failed (exit {rc}) after {seconds:.0f} s", file=sys.stderr)
        return rc

    bundle = dist / APP_NAME
    exe = bundle / (APP_NAME + (".exe" if sys.platform == "win32" else ""))
    if not exe.is_file():
        print(f"build.py: PyInstaller finished but {exe} is missing", file=sys.stderr)
        return 1
    size = tree_size(bundle)
    parts = largest_parts(bundle)
    report = {
        "bundle": str(bundle), "platform": sys.platform, "torch": torch_build(),
        "build_seconds": round(seconds, 1), "size_bytes": size,
        "files": sum(len(f) for _, _, f in os.walk(bundle)),
        "largest": [{"part": k, "bytes": v} for k, v in parts],
    }
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "bundle-report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, work / "bundle-report.json")

    print(f"\nbuilt {bundle} in {seconds / 60:.1f} min ({seconds:.0f} s)")
    print(f"bundle size: {human(size)} in {report['files']} files; torch {report['torch']['version']} "
          f"(CUDA {report['torch']['cuda'] or 'none'})")
    for name, n in parts:
        print(f"  {human(n):>10}  {name}")
    print(f"report: {work / 'bundle-report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
