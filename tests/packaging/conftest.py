"""Load packaging/*.py by path: that folder is not a package (it would shadow PyPI's `packaging`)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def load(name: str):
    path = PACKAGING / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"gcam_packaging_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look modules up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def contents():
    return load("bundle_contents")


@pytest.fixture(scope="session")
def build_script():
    return load("build")


@pytest.fixture(scope="session")
def bundle_test_script():
    return load("bundle_test")
