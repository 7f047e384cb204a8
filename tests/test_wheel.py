"""A plain (non-editable) `pip install .` gets every module, every resource and every command.

Packages are found by setup.py, but resources/ installs as a mapped package
(gcam_desktop.resources), so a package or resource folder that discovery misses would work in the
editable checkout and be missing from a wheel. Building the wheel is what finds that.
"""

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[1]


def _source_files():
    files = {f"{p.relative_to(ROOT).as_posix()}" for d in ("gcam_desktop", "training")
             for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts}
    files |= {f"gcam_desktop/resources/{p.relative_to(ROOT / 'resources').as_posix()}"
              for p in (ROOT / "resources").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return files


def _copy_sources(dest: Path) -> Path:
    # A copy, because setuptools builds in-tree and would reuse a stale build/lib of the
    # checkout (where the bundle's work files also live), hiding a package left out.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("gcam_desktop", "training", "resources"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def test_wheel_holds_all_modules_resources_and_scripts(tmp_path):
    src = _copy_sources(tmp_path / "src")
    out = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                        "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("gcam_desktop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected = _source_files()
    assert any(n.startswith("gcam_desktop/resources/samples/images/") for n in expected)
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing[:10]}"

    (ep_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    ep = configparser.ConfigParser()
    ep.read_string(zipfile.ZipFile(wheel).read(ep_name).decode())
    assert set(ep["console_scripts"]) == {"gcam-desktop", "gcam-train", "gcam-explain", "gcam-evaluate"}
    assert not any(n.startswith(("tests/", "bench/", "packaging/")) for n in names)
