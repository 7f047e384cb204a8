"""The two tiers: `make test` runs everything (CI), `make test-fast` leaves out the tests marked
slow. The fast tier must keep the in-process twins of the slow cases and one of each kind of
launch, and leave out what launches torchrun, builds, or runs pytest again."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAST_KEEPS = [
    "tests/training/test_distributed.py::test_each_process_trains_its_slice_of_the_same_batches",  # epoch plan
    "tests/training/test_resume.py::test_stop_and_resume_in_process_is_exact",     # resume, in process
    "tests/cli/test_explain_cli.py::test_end_to_end_with_a_broken_image",           # gcam-explain, in process
    "tests/app/test_startup.py::test_self_test_explains_with_every_loaded_model",   # one --self-test
    "tests/training/test_run_e2e.py::test_event_sequence",                          # one trainer subprocess
    "tests/app/test_responsiveness.py::test_models_run_in_the_worker_while_the_ui_thread_keeps_turning",
]
FULL_ONLY = [
    "tests/training/test_distributed.py::test_two_processes_reach_the_figures_of_one",   # torchrun
    "tests/cli/test_explain_distributed.py::",                                          # torchrun
    "tests/app/test_training_tab.py::test_processes_field_launches_ddp_and_the_log_shows_the_world_size",
    "tests/test_wheel.py::",                                                            # a wheel build
    "tests/app/test_layout_fit.py::test_the_same_holds_at_200_percent_scale",           # pytest again
    "tests/packaging/",                                                                 # the bundle
    "tests/app/test_responsiveness.py::test_no_ui_stall_while_explaining_and_training",  # a measurement
    "tests/test_tiers.py::",                                                            # pytest again
]


def fast_tier_args() -> list[str]:
    """The pytest options of `make test-fast`, read from the Makefile (what the tier really is)."""
    recipe = re.search(r"^test-fast:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no test-fast target"
    return shlex.split(recipe.group(1).split(" -m pytest ", 1)[1])


def collect(*args: str) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return [line for line in r.stdout.splitlines() if "::" in line]


@pytest.mark.slow
def test_the_fast_tier_keeps_the_twins_and_leaves_out_the_launches():
    fast, full = collect(*fast_tier_args()), collect("-p", "no:cacheprovider")
    assert set(fast) < set(full)
    for name in FAST_KEEPS + FULL_ONLY:
        assert any(n.startswith(name) for n in full), f"{name}: no such test (renamed?)"
    assert not [name for name in FAST_KEEPS if not any(n.startswith(name) for n in fast)]
    assert not [n for n in fast if n.startswith(tuple(FULL_ONLY))]
