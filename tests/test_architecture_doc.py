"""docs/ARCHITECTURE.md held to the code: the parts of it that drift when the code moves.

- its map names every module of gcam_desktop/ and training/ under its package's heading, and
  nothing that is gone;
- every file or folder it (or the README's Architecture section) names exists;
- its "Importable without torch" list is exactly what imports with torch made unimportable;
- the app's layers it lists are the layers of pyproject's import-linter contract.
Each failure says what to change in the doc.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
README = ROOT / "README.md"
CODE_ROOTS = ("gcam_desktop", "training")
# Where a relative path in the doc may start: the repository, the package, the app.
BASES = (ROOT, ROOT / "gcam_desktop", ROOT / "gcam_desktop" / "app")
HEADING = re.compile(r"^(#+)\s")
PACKAGE_HEADING = re.compile(r"^###\s+`([\w/]+/)`")
MODULE_BULLET = re.compile(r"^- `([\w]+\.py)`")
TICKED = re.compile(r"`([^`\s]+)`")


def _section(text: str, title: str) -> list[str]:
    """The lines under the heading that starts with `title`, up to the next heading of its
    level or above (fenced code blocks are not searched for headings)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(title)), None)
    assert start is not None, f"{DOC.relative_to(ROOT)} has no heading {title!r} (the test reads it)"
    level = len(HEADING.match(title).group(1))
    out, fenced = [], False
    for line in lines[start + 1:]:
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else HEADING.match(line)
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return out


def _python_files() -> list[str]:
    files = []
    for top in CODE_ROOTS:
        for f in (ROOT / top).rglob("*.py"):
            rel = f.relative_to(ROOT)
            if not any(p.startswith((".", "__pycache__")) for p in rel.parts):
                files.append(rel.as_posix())
    return sorted(files)


def _modules() -> set[str]:
    """Every module the map must name: __init__.py files are described by their heading."""
    return {f for f in _python_files() if not f.endswith("/__init__.py")}


def _packages() -> set[str]:
    return {f.rsplit("/", 1)[0] + "/" for f in _python_files() if f.endswith("/__init__.py")}


def _the_map() -> tuple[dict[str, int], set[str]]:
    """({module path: line in the map}, {package headings}) from the doc's "## The map"."""
    modules, headings, package = {}, set(), None
    for n, line in enumerate(_section(DOC.read_text(encoding="utf-8"), "## The map"), start=1):
        heading = PACKAGE_HEADING.match(line)
        if heading:
            package = heading.group(1)
            headings.add(package)
            continue
        bullet = MODULE_BULLET.match(line)
        if bullet and package is not None:
            modules[package + bullet.group(1)] = n
    return modules, headings


def test_the_map_names_every_module_and_package():
    named, headings = _the_map()
    missing = sorted(_modules() - set(named))
    assert not missing, (
        "docs/ARCHITECTURE.md's map does not name these modules; add a line "
        "'- `NAME.py` — what it holds' under the package's ### heading:\n  " + "\n  ".join(missing))
    no_heading = sorted(_packages() - headings)
    assert not no_heading, (
        "docs/ARCHITECTURE.md's map has no '### `PACKAGE/` — what it is' heading for these packages:\n  "
        + "\n  ".join(no_heading))


def test_the_map_names_nothing_that_is_gone():
    named, headings = _the_map()
    gone = sorted(set(named) - _modules())
    assert not gone, ("docs/ARCHITECTURE.md's map names modules that do not exist (moved or removed?); "
                      "update or delete their lines:\n  " + "\n  ".join(gone))
    gone_packages = sorted(h for h in headings if not (ROOT / h / "__init__.py").exists())
    assert not gone_packages, ("docs/ARCHITECTURE.md's map has headings for packages that do not exist:\n  "
                               + "\n  ".join(gone_packages))


def _names_a_path(token: str) -> str | None:
    """The file or folder a `ticked` token names, or None for anything else (code, options)."""
    path = token.split(":", 1)[0]
    if path.endswith(".py") or (path.endswith("/") and re.fullmatch(r"[\w./-]+", path)):
        return path
    if re.fullmatch(r"[\w-]+(/[\w.-]+)+\.(md|toml|json|spec)", path):
        return path
    return None


def _exists(path: str, basenames: set[str]) -> bool:
    if "/" not in path.rstrip("/"):
        return path in basenames or any((base / path).exists() for base in BASES)
    return any((base / path).exists() for base in BASES)


def _missing_paths(lines: list[str]) -> list[str]:
    basenames = {f.rsplit("/", 1)[-1] for f in _python_files()}
    missing = []
    for line in lines:
        for token in TICKED.findall(line):
            path = _names_a_path(token)
            if path is not None and not _exists(path, basenames):
                missing.append(f"{path!r} in: {line.strip()}")
    return missing


def test_every_path_the_doc_names_exists():
    missing = _missing_paths(DOC.read_text(encoding="utf-8").splitlines())
    assert not missing, ("docs/ARCHITECTURE.md names files or folders that do not exist (paths are "
                         "taken from the repository, gcam_desktop/ or gcam_desktop/app/):\n  " + "\n  ".join(missing))


def test_the_readme_architecture_section_points_to_the_doc_and_names_real_paths():
    section = _section(README.read_text(encoding="utf-8"), "## Architecture")
    assert any("docs/ARCHITECTURE.md" in line for line in section), "README's Architecture section must link the doc"
    missing = _missing_paths(section)
    assert not missing, "README.md's Architecture section names paths that do not exist:\n  " + "\n  ".join(missing)


def _doc_torch_free() -> set[str]:
    """The modules the doc's "Importable without torch" list names (a folder: all its modules)."""
    listed: set[str] = set()
    modules = _modules()
    for line in _section(DOC.read_text(encoding="utf-8"), "### Importable without torch"):
        if not line.startswith(("- ", "  ")):
            continue
        for token in (t for t in TICKED.findall(line) if t.endswith((".py", "/"))):
            assert token.startswith(CODE_ROOTS), (
                f"docs/ARCHITECTURE.md's torch-free list: write {token!r} from the repository root "
                f"(gcam_desktop/... or training/...)")
            if token.endswith("/"):
                under = {m for m in modules if m.startswith(token)}
                assert under, f"docs/ARCHITECTURE.md's torch-free list names {token!r}, which holds no module"
                listed |= under
            else:
                listed.add(token)
    return {m for m in listed if not m.endswith("/__main__.py")}


# Every module imported in one interpreter with torch unimportable; the project's own modules
# are forgotten between imports, so one module's import never rides on another's.
_PROBE = r"""
import importlib, json, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is unimportable in this check")
sys.meta_path.insert(0, NoTorch())
result = {}
for path in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("gcam_desktop", "training")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(path[:-3].replace("/", "."))
        result[path] = None
    except BaseException as exc:
        result[path] = f"{type(exc).__name__}: {exc}"
print(json.dumps(result))
"""


def test_the_torch_free_list_is_what_imports_without_torch():
    candidates = sorted(m for m in _modules() if not m.endswith("/__main__.py"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(candidates)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    actual = {m for m, why in failures.items() if why is None}
    listed = _doc_torch_free()
    claimed_wrongly = sorted(f"{m} ({failures.get(m, 'no such module')})" for m in listed - actual)
    assert not claimed_wrongly, (
        "docs/ARCHITECTURE.md lists these as importable without torch, but they are not; move them "
        "out of '### Importable without torch' (or keep torch out of their imports):\n  "
        + "\n  ".join(claimed_wrongly))
    unlisted = sorted(actual - listed)
    assert not unlisted, (
        "these modules import without torch but docs/ARCHITECTURE.md's '### Importable without torch' "
        "does not list them; add them there:\n  " + "\n  ".join(unlisted))


def _layers(entries: list[str]) -> list[frozenset[str]]:
    """import-linter's layer strings ("a | b", "a : b", "(a)") as sets of names."""
    return [frozenset(n.strip().strip("()") for n in re.split(r"[|:]", e) if n.strip()) for e in entries]


def test_the_app_layers_are_the_import_linter_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = [c for c in config["tool"]["importlinter"]["contracts"]
                 if c.get("type") == "layers" and c.get("containers") == ["gcam_desktop.app"]]
    assert len(contracts) == 1, "pyproject.toml should hold one layers contract for gcam_desktop.app"
    section = _section(DOC.read_text(encoding="utf-8"), "### Layers of `gcam_desktop/app/`")
    fences = [i for i, line in enumerate(section) if line.startswith("```")]
    assert len(fences) >= 2, "docs/ARCHITECTURE.md's app layers must be a fenced block, one layer a line"
    block = [line for line in section[fences[0] + 1:fences[1]] if line.strip()]
    doc, contract = _layers(block), _layers(contracts[0]["layers"])
    assert doc == contract, (
        "docs/ARCHITECTURE.md's '### Layers of `gcam_desktop/app/`' differs from pyproject.toml's "
        "[tool.importlinter] layers (top to bottom); copy them:\n  doc:       "
        + "\n             ".join(" | ".join(sorted(x)) for x in doc)
        + "\n  contract:  " + "\n             ".join(" | ".join(sorted(x)) for x in contract))
