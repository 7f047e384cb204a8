"""Qt stays in gcam_desktop/app/; the image loader and paths stay light enough for start-up."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every package but gcam_desktop/app is Qt-free: a new package is covered without being listed.
QT_FREE = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gcam_desktop").iterdir()
                 if p.is_dir() and (p / "__init__.py").exists() and p.name != "app") + ["training"]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph", "shiboken6", "qtpy")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_core_packages_import_no_qt_in_source():
    offenders = []
    files = [f for d in QT_FREE for f in (ROOT / d).rglob("*.py")]
    assert any(f.parent.name == "models" for f in files) and any(f.parent.name == "imaging" for f in files)
    for f in files:
        for name in _imports(f):
            if name.split(".")[0] in QT_MODULES:
                offenders.append(f"{f.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def _qt_free_modules() -> list[str]:
    """Every module of the Qt-free packages, as dotted names (entry-point shims excluded)."""
    mods = []
    for d in QT_FREE:
        for f in sorted((ROOT / d).rglob("*.py")):
            if f.name == "__main__.py":
                continue
            parts = f.relative_to(ROOT).with_suffix("").parts
            mods.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return mods


def test_qt_free_packages_are_all_covered():
    assert {"gcam_desktop/models", "gcam_desktop/explain", "gcam_desktop/imaging",
            "gcam_desktop/cli", "training"} <= set(QT_FREE)
    assert "gcam_desktop.imaging.preprocess" in _qt_free_modules()


@pytest.mark.slow
def test_core_packages_load_no_qt_at_runtime():
    code = (
        "import sys, importlib\n"
        f"for m in {_qt_free_modules()!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_loader_paths_and_file_writing_do_not_import_torch():
    code = ("import sys, gcam_desktop.imaging, gcam_desktop.paths, gcam_desktop.files\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_import_contracts_hold():
    """import-linter's contracts in pyproject.toml: the app's layers (composition root, features,
    widgets, common; nothing imports upward, sibling features stay independent, every module of
    app/ has a layer) and no import cycle inside a Qt-free package."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    for contract in ("composition root > features > widgets > common", "No import cycles"):
        assert f"{contract}" in report and "BROKEN" not in report, report
    assert "Contracts: 2 kept, 0 broken." in report, report
