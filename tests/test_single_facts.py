"""Facts written once (issue 23): each is defined in one module and imported everywhere else.
These checks read the source (no import), so a second copy fails here before it can drift."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("gcam_desktop", "training", "bench") for p in (ROOT / d).rglob("*.py"))
# name -> the one module that may assign it
ONE_PLACE = {
    "TOP_FRACTION": "gcam_desktop/explain/names.py",
    "DIVERGING": "gcam_desktop/explain/overlay.py",
    "ATTENTION_ARCHS": "gcam_desktop/models/names.py",
    "RESNET_ARCHS": "gcam_desktop/models/names.py",
    "DEMO_ARCHS": "gcam_desktop/paths.py",
}
SE_ARCHS = {"se_resnet50", "s_se_resnet50"}


def _trees():
    for path in SOURCES:
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_sources_are_found():
    assert len(SOURCES) > 100 and any(p.name == "names.py" for p in SOURCES)


def test_each_shared_constant_is_assigned_in_one_module_only():
    where = {name: [] for name in ONE_PLACE}
    for rel, tree in _trees():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and t.id in where:
                    where[t.id].append(rel)
    assert where == {name: [module] for name, module in ONE_PLACE.items()}


def test_no_module_spells_out_the_attention_architectures():
    """A tuple, list or set of architecture names holding both SE variants is a copy of
    models/names.py RESNET_ARCHS or ATTENTION_ARCHS (import those instead)."""
    copies = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if SE_ARCHS <= values:
                    copies.append(f"{rel}:{node.lineno}")
    assert copies == []


def test_the_app_keeps_no_hand_written_cache():
    """Caches are app/common/byte_cache.py's ByteBoundedCache; the worker thread's request
    queue (common/worker_thread.py) is the one other OrderedDict."""
    users = Counter()
    for rel, tree in _trees():
        if rel.startswith("gcam_desktop/app/"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id == "OrderedDict":
                    users[rel] += 1
    assert set(users) == {"gcam_desktop/app/common/byte_cache.py", "gcam_desktop/app/common/worker_thread.py"}
