"""--demo: the sample images and the demo models; missing models train in the background and
each panel fills as its checkpoint lands."""

from __future__ import annotations

import shutil
import sys

import pytest

from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint, samples_dir


@pytest.fixture(scope="session")
def demo_like_checkpoints(tmp_path_factory):
    """One untrained checkpoint per demo architecture, with the sample set's classes."""
    import torch

    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    classes = sorted(p.name for p in (samples_dir() / "images").iterdir() if p.is_dir())
    root = tmp_path_factory.mktemp("demo-like")
    out = {}
    for i, arch in enumerate(DEMO_ARCHS):
        torch.manual_seed(i)
        out[arch] = save_checkpoint(root / f"{arch}.pt", build_model(arch, len(classes)),
                                    make_meta(arch, classes, input_size=64))
    return out


@pytest.mark.slow
def test_demo_loads_the_samples_and_existing_demo_models_at_once(qtbot, make_window, demo_like_checkpoints):
    from gcam_desktop.app.demo import start_demo

    for arch, path in demo_like_checkpoints.items():
        demo_checkpoint(arch).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, demo_checkpoint(arch))
    win = make_window(slots_arch=None)
    demo = start_demo(win)
    assert demo.missing == [] and not win.training.running()
    n = len(list((samples_dir() / "images").rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)
    assert all("/masks/" not in p for p in win.list_model.paths)
    qtbot.waitUntil(lambda: len(win.slots.active()) == 3, timeout=120_000)
    assert {s.info.arch for s in win.slots.active()} == set(DEMO_ARCHS)
    qtbot.waitUntil(lambda: all(s in win.explanations.results for s in ("baseline", "SE", "s_se")), timeout=120_000)
    assert all(r.ok and r.true_class is not None for r in win.explanations.results.values())


@pytest.mark.slow
def test_missing_demo_models_train_in_the_background_and_fill_slots(qtbot, make_window, demo_like_checkpoints):
    from gcam_desktop.app.demo import start_demo

    win = make_window(slots_arch=None)
    demo = start_demo(win)
    assert demo.missing == list(DEMO_ARCHS)
    tab = win.training
    assert tab.running() and tab.mode == "demo" and win.tabs.currentWidget() is tab
    # `gcam-train demo` itself, not a training run that merely has "demo" somewhere in a path
    # (--stop-on-stdin is added on Windows, where SIGTERM cannot be caught).
    args = [a for a in tab.process.proc.arguments() if a != "--stop-on-stdin"]
    assert tab.process.proc.program() == sys.executable and args == ["-m", "training", "demo"], args
    qtbot.waitUntil(lambda: any(e["event"] == "run_started" for e in tab.events), timeout=180_000)
    # A demo checkpoint landing (as the trainer installs it: atomically) fills its slot.
    target = demo_checkpoint("se_resnet50")
    tmp = target.with_suffix(".part")
    shutil.copy(demo_like_checkpoints["se_resnet50"], tmp)
    tmp.replace(target)
    with qtbot.waitSignal(win.service.worker.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args[0].slot == "SE" and loaded.args[0].path == str(target)
    assert win.tabs.currentIndex() == 0          # the first model in: the comparison shows
    with qtbot.waitSignal(tab.run_finished, timeout=120_000):
        tab.stop()
    assert any(e["event"] == "stopped" for e in tab.events)
