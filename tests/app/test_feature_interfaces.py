"""No feature takes or keeps the main window (issue 23): each is handed the narrow things it
needs (the inference service, slot states, signals, small callables), wired in the composition
root (main_window.py, window_features.py). The window as a service locator let a feature reach
into `win.service.worker`, `win.slots.states` or `win.view.diff_colorbar` unseen."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import gcam_desktop.app as app_package

APP = Path(app_package.__file__).parent
# tooling/ (the self-test, the benchmark) drives the whole window: it sits above main_window in
# the layers contract, with the composition root, so it is no feature.
FEATURES = sorted(p.parent.name for p in APP.glob("*/__init__.py") if p.parent.name != "tooling")
WINDOW_NAMES = {"win", "window", "main_window", "mainwindow"}


def _window_reach_ins(source: str) -> list[str]:
    """Where a module takes, calls up to or reads from the main window: a parameter named or
    annotated as the window, `x.window()` (Qt's own way up to it), `win.<attribute>`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if arg.arg.lower() in WINDOW_NAMES or "MainWindow" in annotation:
                    found.append(f"line {node.lineno}: {node.name}() takes {arg.arg!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "window":
            found.append(f"line {node.lineno}: calls .window()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id.lower() in WINDOW_NAMES:
            found.append(f"line {node.lineno}: reads {node.value.id}.{node.attr}")
    return found


def test_the_scan_sees_the_reach_ins_it_forbids():
    """The checker itself: what the features used to do is caught, narrow code is not."""
    old = ("class SimilarPictures:\n"
           "    def __init__(self, window, hash_model=None):\n"
           "        self.window = window\n"
           "        window.image_list.current_changed.connect(self.set_current)\n"
           "def comparison_tiles(win):\n"
           "    return win.view.diff_colorbar\n"
           "def status(widget: 'MainWindow'):\n"
           "    widget.window().statusBar()\n")
    found = _window_reach_ins(old)
    assert any("__init__() takes 'window'" in f for f in found)
    assert any("reads window.image_list" in f for f in found)
    assert any("comparison_tiles() takes 'win'" in f for f in found)
    assert any("reads win.view" in f for f in found)
    assert any("status() takes 'widget'" in f for f in found)
    assert any("calls .window()" in f for f in found)
    narrow = ("def export(src: ExportSource, parent: QWidget, say):\n"
              "    self.window_size = src.view.order\n")
    assert _window_reach_ins(narrow) == []


def test_the_feature_packages_are_found():
    assert {"attention", "compare", "export", "images", "inference", "slots"} <= set(FEATURES)


@pytest.mark.parametrize("feature", FEATURES)
def test_no_feature_module_takes_or_reads_the_main_window(feature):
    problems = {str(path.relative_to(APP)): found for path in sorted((APP / feature).rglob("*.py"))
                if (found := _window_reach_ins(path.read_text(encoding="utf-8")))}
    assert problems == {}


def test_no_feature_object_keeps_the_window(make_window, qtbot):
    """The running window: none of the features it made holds a reference to it (Qt's parent
    aside, which is ownership, not an interface)."""
    from gcam_desktop.app.main_window import MainWindow

    win = make_window(start_engine=False)
    qtbot.waitUntil(lambda: win.similar is not None, timeout=10_000)   # the features after first paint
    features = {name: getattr(win, name) for name in ("similar", "attention", "quality", "training", "service",
                                                      "slots", "explanations", "controls", "view", "image_list")}
    features["export_source"] = win.export_source
    for name, obj in features.items():
        module = type(obj).__module__
        assert module.startswith("gcam_desktop.app.") and module.split(".")[2] in FEATURES, (name, module)
        held = {attr: value for attr, value in vars(obj).items() if value is win or isinstance(value, MainWindow)} \
            if hasattr(obj, "__dict__") else {}
        assert held == {}, f"{name} keeps the window in {sorted(held)}"
        for param in inspect.signature(type(obj).__init__).parameters.values():
            assert param.name.lower() not in WINDOW_NAMES, f"{type(obj).__name__}() takes {param.name!r}"
