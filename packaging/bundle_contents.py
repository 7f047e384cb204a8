"""What goes into the desktop bundle and what stays out; read by gcam_desktop.spec and the tests.

Plain Python with no PyInstaller import, so `make test` can check these lists without the
`bundle` extra installed. The directory is not a package (`packaging` would shadow the PyPI
project of that name): the spec and the tests load this file by its path.
"""

from __future__ import annotations

import importlib.util
import re
from fnmatch import fnmatch
from pathlib import Path

APP_NAME = "gcam-desktop"
BUNDLE_IDENTIFIER = "org.gcam-desktop.viewer"
# paths.resources_dir() looks here under sys._MEIPASS when frozen.
RESOURCES_DEST = "gcam_desktop/resources"
SOURCE_PACKAGES = ("gcam_desktop", "training")

# Other Qt bindings: pyqtgraph and friends probe for them; one binding per process.
QT_BINDINGS = ["PyQt5", "PyQt6", "PySide2", "tkinter", "_tkinter", "qtpy"]

# Test-only packages. timm is there only to check that its state dicts load. huggingface_hub
# stays (imagenet:se_resnet50); its optional hf_xet transfer backend does not: plain HTTP serves.
TEST_ONLY = ["tests", "pytest", "_pytest", "pytestqt", "pytest_timeout", "pluggy", "iniconfig",
             "timm", "hf_xet", "hypothesis", "expecttest"]

# What the program never runs. Each entry was checked against the self-test and a training run
# of the frozen app (packaging/bundle_test.py). Not excludable, because Adam.step imports
# torch._dynamo, which imports torch._inductor (config), sympy, torch.fx and torch.testing:
# those stay. triton is optional to torch (CPU wheels lack it) and only serves torch.compile,
# which the app never calls; the runtime hook also sets TORCH_COMPILE_DISABLE.
UNUSED = [
    "triton",                       # ~0.9 GB: torch.compile's GPU kernel compiler
    "torch.utils.tensorboard", "tensorboard", "tensorboardX",
    "torch.utils.cpp_extension", "setuptools", "pkg_resources", "distutils",
    "matplotlib", "IPython", "jupyter_client", "ipykernel", "notebook", "cv2",
    # not pandas: statsmodels (the evaluation report's tests) imports it
]

# Qt modules the app does not use (it needs QtCore, QtGui, QtWidgets, QtSvg, and what
# pyqtgraph loads: QtOpenGL, QtOpenGLWidgets, QtTest). Listed so no hook drags them in.
UNUSED_QT = [f"PySide6.{m}" for m in (
    "QtWebEngineCore", "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel", "QtWebSockets",
    "QtWebView", "QtQml", "QtQuick", "QtQuickWidgets", "QtQuick3D", "QtQuickControls2", "QtPdf",
    "QtPdfWidgets", "Qt3DCore", "Qt3DRender", "Qt3DInput", "Qt3DLogic", "Qt3DAnimation", "Qt3DExtras",
    "QtMultimedia", "QtMultimediaWidgets", "QtSpatialAudio", "QtTextToSpeech", "QtCharts",
    "QtDataVisualization", "QtGraphs", "QtGraphsWidgets", "QtDesigner", "QtHelp", "QtUiTools",
    "QtBluetooth", "QtNfc", "QtPositioning", "QtLocation", "QtSensors", "QtSerialPort", "QtSerialBus",
    "QtRemoteObjects", "QtScxml", "QtStateMachine", "QtSql", "QtHttpServer", "QtVirtualKeyboard",
    "QtAxContainer", "QtCanvasPainter")]

# gcam_desktop.resources is collected as data (below); as a module it only serves the
# non-frozen branch of paths.resources_dir().
EXCLUDES = sorted(set(QT_BINDINGS + TEST_ONLY + UNUSED + UNUSED_QT + ["gcam_desktop.resources"]))


# Qt plugins that only drag in libraries the app never uses: the virtual keyboard plugin loads
# QtQml and QtQuick, the PDF image format QtPdf. Matched against each entry's path in the bundle
# (files and the links PyInstaller makes to them).
DROP_BINARIES = [
    "*/platforminputcontexts/libqtvirtualkeyboardplugin*", "*/imageformats/*qpdf*",
    "*Qt6VirtualKeyboard*", "*Qt6Qml*", "*Qt6Quick*", "*Qt6Pdf*",
]


def keep_in_bundle(dest: str) -> bool:
    dest = dest.replace("\\", "/")
    return not any(fnmatch(dest, pattern) for pattern in DROP_BINARIES)


def lazy_cuda_libs() -> list[tuple[str, str]]:
    """CUDA libraries loaded with dlopen that binary analysis cannot see: NVRTC loads its
    builtins library at run time (torch compiles its jiterator kernels with NVRTC on the GPU).
    Linux pip layout (nvidia/<component>/lib); [] where torch carries its own CUDA or none."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    out = []
    for base in (spec.submodule_search_locations or []) if spec else []:
        for f in sorted(Path(base).glob("*/lib/libnvrtc-builtins.so*")):
            if ".alt." not in f.name:  # the .alt variant serves a different libnvrtc.alt
                out.append((str(f), f"nvidia/{f.parent.parent.name}/lib"))
    return out


def torchvision_ops() -> list[tuple[str, str]]:
    """torchvision's compiled operators (`_C_stable.so` and its image library in 0.29; `_C` in
    older releases), which PyInstaller's hook does not collect under their new names. Without
    them `import torchvision` fails ("operator torchvision::nms does not exist"), and with it
    Zennit (LRP: the engine imports it), DeepLIFT's blur and the ImageNet weights."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return []
    base = Path(list(spec.submodule_search_locations)[0])
    return [(str(f), "torchvision") for f in sorted(base.glob("*.so")) + sorted(base.glob("*.pyd"))]


def source_modules(root: Path) -> list[str]:
    """Every module of our packages: the trainer resolves names lazily (training/__init__),
    so static analysis alone would miss some."""
    names = []
    for pkg in SOURCE_PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            if "__pycache__" in f.parts:
                continue
            parts = f.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def resource_datas(root: Path) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for every resource file: icons, style, samples."""
    base = root / "resources"
    out = []
    for f in sorted(base.rglob("*")):
        rel = f.relative_to(base)
        if not f.is_file() or "__pycache__" in rel.parts or rel.name == "__init__.py" or f.suffix == ".pyc":
            continue
        out.append((str(f), str(Path(RESOURCES_DEST, *rel.parts[:-1]).as_posix())))
    return out


def icon_for(platform: str, icons_dir: Path) -> str | None:
    """The app icon in the form this platform embeds: .ico (Windows), .icns (macOS); a .png is
    converted by PyInstaller (needs Pillow, which the app has). Linux executables embed none
    (the window icon is set at run time from resources/icons)."""
    if platform.startswith("win"):
        wanted = ("app.ico", "app.png")
    elif platform == "darwin":
        wanted = ("app.icns", "app.png")
    else:
        return None
    for name in wanted:
        if (icons_dir / name).is_file():
            return str(icons_dir / name)
    return None


def version(root: Path) -> str:
    """gcam_desktop.__version__, read as text so the spec imports nothing of the app."""
    text = (root / "gcam_desktop" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    return m.group(1) if m else "0.0.0"


def info_plist(ver: str) -> dict:
    """macOS Info.plist additions: sharp text on Retina screens, dark mode, the version."""
    return {
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,
        "CFBundleShortVersionString": ver,
        "CFBundleVersion": ver,
        "CFBundleDisplayName": APP_NAME,
        "LSMinimumSystemVersion": "11.0",
    }
