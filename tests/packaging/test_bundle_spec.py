"""The PyInstaller spec and its lists, checked without building (the build is `make bundle`)."""

import ast
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the bundle's tests (make test-fast leaves them out)

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"

SPEC = PACKAGING / "gcam_desktop.spec"


class _Recorder:
    """Stands in for one PyInstaller build class and remembers how the spec called it."""

    calls: dict

    def __init__(self, kind):
        self.kind = kind

    def __call__(self, *args, **kwargs):
        self.calls.setdefault(self.kind, []).append((args, kwargs))
        obj = type(self.kind, (), {})()
        obj.pure = obj.scripts = obj.binaries = obj.datas = []
        return obj


def run_spec(spec_path: Path) -> dict:
    calls: dict = {}
    namespace = {"SPECPATH": str(spec_path.parent), "__file__": str(spec_path)}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        rec = _Recorder(kind)
        rec.calls = calls
        namespace[kind] = rec
    code = compile(spec_path.read_text(encoding="utf-8"), str(spec_path), "exec")
    exec(code, namespace)
    return calls


def one(calls, kind):
    assert len(calls.get(kind, [])) == 1, f"{kind} called {len(calls.get(kind, []))} times"
    return calls[kind][0]


def test_spec_builds_a_windowed_one_folder_app_named_gcam_desktop():
    calls = run_spec(SPEC)
    _, exe = one(calls, "EXE")
    _, coll = one(calls, "COLLECT")
    assert exe["name"] == coll["name"] == "gcam-desktop"
    assert exe["exclude_binaries"] is True          # one-dir: COLLECT gathers the libraries
    assert exe["console"] is False                  # windowed
    assert exe["argv_emulation"] is False           # `gcam-desktop train ...` must reach main()
    assert not exe["upx"] and not coll["upx"]
    (scripts,), analysis = one(calls, "Analysis")
    assert [Path(s).name for s in scripts] == ["launcher.py"]
    assert all(Path(h).is_file() for h in analysis["runtime_hooks"])
    assert all(Path(h).is_dir() for h in analysis["hookspath"])
    if sys.platform != "darwin":
        assert "BUNDLE" not in calls


def test_macos_bundle_asks_for_retina_and_carries_the_version(monkeypatch, contents):
    monkeypatch.setattr(sys, "platform", "darwin")
    calls = run_spec(SPEC)
    _, bundle = one(calls, "BUNDLE")
    assert bundle["name"] == "gcam-desktop.app"
    assert bundle["info_plist"]["NSHighResolutionCapable"] is True
    assert bundle["version"] == contents.version(ROOT) == _package_version()
    assert bundle["bundle_identifier"]


def _package_version():
    import gcam_desktop

    return gcam_desktop.__version__


def _fake_checkout(base: Path, icon_names=()) -> Path:
    """The spec, its helpers and a skeleton of the sources, somewhere else entirely."""
    shutil.copytree(PACKAGING, base / "packaging", ignore=shutil.ignore_patterns("__pycache__"))
    for pkg in ("gcam_desktop/app", "training"):
        (base / pkg).mkdir(parents=True)
        (base / pkg / "__init__.py").write_text("")
    (base / "gcam_desktop" / "__init__.py").write_text('__version__ = "9.8.7"\n')
    (base / "gcam_desktop" / "app" / "__main__.py").write_text("def main(argv=None):\n    return 0\n")
    (base / "training" / "cli.py").write_text("")
    icons = base / "resources" / "icons"
    icons.mkdir(parents=True)
    (base / "resources" / "__init__.py").write_text("")
    (base / "resources" / "samples" / "disc").mkdir(parents=True)
    (base / "resources" / "samples" / "disc" / "disc_0.png").write_bytes(b"png")
    for name in icon_names:
        (icons / name).write_bytes(b"icon")
    return base


@pytest.mark.parametrize("platform, icons, expected", [
    ("win32", ("app.ico", "app.png", "app.icns"), "app.ico"),
    ("win32", ("app.png",), "app.png"),
    ("darwin", ("app.ico", "app.icns"), "app.icns"),
    ("darwin", ("app.png",), "app.png"),
    ("darwin", (), None),
    ("linux", ("app.ico", "app.icns", "app.png"), None),
])
def test_every_path_comes_from_the_spec_folder_and_the_icon_suits_the_platform(
        tmp_path, monkeypatch, platform, icons, expected):
    base = _fake_checkout(tmp_path / "elsewhere", icons)
    monkeypatch.setattr(sys, "platform", platform)
    calls = run_spec(base / "packaging" / "gcam_desktop.spec")
    (scripts,), analysis = one(calls, "Analysis")
    paths = [*scripts, *analysis["pathex"], *analysis["hookspath"], *analysis["runtime_hooks"],
             *(src for src, _ in analysis["datas"])]
    assert paths and all(Path(p).is_relative_to(base) for p in paths), paths
    assert ("gcam_desktop.app.__main__" in analysis["hiddenimports"]
            and "training.cli" in analysis["hiddenimports"])
    icon = one(calls, "EXE")[1]["icon"]
    assert (Path(icon).name if icon else None) == expected
    if platform == "darwin":
        assert one(calls, "BUNDLE")[1]["version"] == "9.8.7"


def test_spec_has_no_absolute_or_machine_specific_paths():
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    bad = [s for s in literals if s.startswith(("/", "~")) or (len(s) > 2 and s[1:3] in (":\\", ":/"))]
    assert not bad, bad


def test_every_resource_file_is_collected_where_the_frozen_app_looks(contents):
    datas = contents.resource_datas(ROOT)
    files = [f for f in (ROOT / "resources").rglob("*")
             if f.is_file() and "__pycache__" not in f.parts and f.name != "__init__.py" and f.suffix != ".pyc"]
    assert files, "resources/ is empty"
    assert sorted(Path(src) for src, _ in datas) == sorted(files)
    for src, dest in datas:
        rel = Path(src).relative_to(ROOT / "resources")
        assert Path(dest) == Path(contents.RESOURCES_DEST, *rel.parts[:-1])
    assert any(Path(src).suffix == ".svg" for src, _ in datas)  # the icons the window uses


def test_frozen_paths_resolve_inside_the_bundle(monkeypatch, tmp_path, contents):
    from gcam_desktop import paths

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.resources_dir() == tmp_path / contents.RESOURCES_DEST
    assert paths.samples_dir() == tmp_path / contents.RESOURCES_DEST / "samples"
    assert paths.icons_dir() == tmp_path / contents.RESOURCES_DEST / "icons"


def test_hidden_imports_cover_every_module_of_the_app_and_trainer(contents):
    names = contents.source_modules(ROOT)
    assert len(names) == len(set(names))
    for required in ("gcam_desktop", "gcam_desktop.paths", "gcam_desktop.app.__main__", "gcam_desktop.models",
                     "training", "training.cli", "training.run", "training.events"):
        assert required in names
    py_files = [f for pkg in ("gcam_desktop", "training") for f in (ROOT / pkg).rglob("*.py")
                if "__pycache__" not in f.parts]
    assert len(names) == len(py_files)
    assert not any(n.startswith("tests") for n in names)
