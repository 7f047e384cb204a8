"""What the bundle leaves out: nothing the app or the trainer imports, and what must go does."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the bundle's tests (make test-fast leaves them out)

ROOT = Path(__file__).resolve().parents[2]


def test_required_exclusions_are_listed(contents):
    ex = set(contents.EXCLUDES)
    for name in ("PyQt5", "PyQt6", "PySide2", "tkinter", "_tkinter",   # other Qt bindings, Tk
                 "tests", "pytest", "pytestqt", "timm",                 # test-only
                 "triton", "torch.utils.tensorboard"):                  # compiler and logging stacks
        assert name in ex, name
    assert not any(name.startswith("PySide6.") and name.split(".")[1] in
                   ("QtCore", "QtGui", "QtWidgets", "QtSvg", "QtOpenGL", "QtOpenGLWidgets", "QtTest")
                   for name in ex)


def test_what_training_needs_at_run_time_stays_in():
    """Adam.step imports torch._dynamo, which pulls torch._inductor.config, sympy and torch.fx:
    leaving any of them out breaks the frozen trainer (found by packaging/bundle_test.py)."""
    ns = {}
    exec((ROOT / "packaging" / "bundle_contents.py").read_text(encoding="utf-8"), ns)
    ex = ns["EXCLUDES"]
    for needed in ("torch", "torch._dynamo", "torch._inductor", "sympy", "mpmath", "torch.fx", "numpy",
                   "PIL", "PySide6", "pyqtgraph", "cmap", "safetensors", "natsort", "platformdirs", "tqdm",
                   "torchvision", "huggingface_hub"):  # imagenet:... weights: URL, class names, hub cache
        assert not any(needed == e or needed.startswith(e + ".") for e in ex), needed


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):  # also imports inside functions: they run in the bundle too
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_app_or_trainer_module_imports_an_excluded_module(contents):
    # paths.resources_dir imports gcam_desktop.resources only when not frozen.
    allowed = {"gcam_desktop.resources"}
    offenders = []
    files = [f for pkg in contents.SOURCE_PACKAGES for f in (ROOT / pkg).rglob("*.py") if "__pycache__" not in f.parts]
    assert len(files) > 10
    for f in files:
        for name in _imported_modules(f):
            hit = next((e for e in contents.EXCLUDES if name == e or name.startswith(e + ".")), None)
            if hit and hit not in allowed:
                offenders.append(f"{f.relative_to(ROOT)} imports {name} (excluded: {hit})")
    assert not offenders, offenders
