"""GUI tests: offscreen Qt, user data and QSettings in a temporary folder, and a check that
no thread, pool or child process the app started is still running after each test."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"   # before anything imports Qt
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import gc  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from gcam_desktop.app.common.qt_compat import install as _install_qt_workarounds  # noqa: E402

_install_qt_workarounds()  # PySide6 6.12.0 drops a reference to True per emit (see the module)


@pytest.fixture(autouse=True)
def _isolated_qt_settings(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings, QStandardPaths

    data = Path(os.environ["GCAM_DESKTOP_DATA_DIR"])  # set per test by tests/conftest.py
    assert data.exists() and "user-data" in data.name
    QStandardPaths.setTestModeEnabled(True)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qsettings"))
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(tmp_path / "qsettings"))
    yield


@pytest.fixture(autouse=True)
def _no_threads_left(request):
    """Fails the test if it leaves app threads, pools or processes running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    from gcam_desktop.app.common.lifecycle import still_running

    # Generous: this checks that everything ends, not how fast. On a loaded machine a thread
    # at lowered priority (the Similar strip's, nice 10) can sit in its setup for a minute.
    deadline = time.monotonic() + 120.0
    while True:
        left = still_running() + [
            f"python thread {t.name!r}" for t in threading.enumerate()
            if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"still running after the test: {left}"


# ---------------------------------------------------------------------------- data and models

@pytest.fixture(scope="session")
def image_folder_3cls(tmp_path_factory) -> Path:
    """A small ImageFolder from the trainer's synthetic generator: 3 classes x 6 images, 32 px."""
    from training.synth import make_synthetic

    root = tmp_path_factory.mktemp("tiny-synth")
    make_synthetic(root, classes=3, per_class=6, size=32, seed=0)
    return root / "images"


@pytest.fixture(scope="session")
def class_names(image_folder_3cls) -> list[str]:
    return sorted(p.name for p in image_folder_3cls.iterdir() if p.is_dir())


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, class_names) -> dict[str, Path]:
    """Three small_cnn checkpoints (different random weights) and one of other classes."""
    import torch

    from gcam_desktop.models import build_model, make_meta, save_checkpoint

    root = tmp_path_factory.mktemp("ckpts")
    out = {}
    for i, name in enumerate(("a", "b", "c")):
        torch.manual_seed(i)
        model = build_model("small_cnn", len(class_names))
        meta = make_meta("small_cnn", class_names, input_size=32, epoch=3, metrics={"val_acc": 0.5 + i / 10})
        out[name] = save_checkpoint(root / f"small_{name}.pt", model, meta)
    other = [f"other{i}" for i in range(len(class_names) + 2)]
    out["other_classes"] = save_checkpoint(root / "other.pt", build_model("small_cnn", len(other)),
                                           make_meta("small_cnn", other, input_size=32))
    broken = root / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 this is not a whole checkpoint")
    out["broken"] = broken
    return out


def write_settings(slots: list[dict] | None = None, **extra) -> None:
    """Settings as the app would have saved them (before the window opens)."""
    from gcam_desktop.app.common.settings import Settings

    s = Settings.load()
    if slots is not None:
        for saved, given in zip(s["slots"], slots):
            saved.update(given)
    s.data.update(extra)
    s.save()


@pytest.fixture
def make_window(qtbot):
    """Factory for main windows that are shut down (threads joined) at teardown."""
    windows = []

    def make(start_engine: bool = True, slots_arch: str | None = "small_cnn", resize: bool = True, **settings):
        from gcam_desktop.app.main_window import MainWindow

        if slots_arch:
            write_settings([{"arch": slots_arch}] * 3, **settings)
        win = MainWindow()
        qtbot.addWidget(win)
        windows.append(win)
        if resize:
            win.resize(1280, 800)
        win.show()
        if start_engine:
            with qtbot.waitSignal(win.service.worker.engine_ready, timeout=120_000):
                win.start_engine()
        return win

    yield make
    from PySide6.QtCore import QCoreApplication, QEvent

    for win in windows:
        win.close()
        win.shutdown()
        win.deleteLater()
    windows.clear()
    # Collect the windows here, in the main thread: a collection that happens to run in a
    # worker thread later would leave shiboken to delete Qt objects from a queue.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture
def load_slot(qtbot):
    """Load a checkpoint into a window's slot and wait until the worker reports it loaded.

    A fixture rather than an importable helper: under pytest's prepend import mode the name
    `conftest` in sys.modules belongs to whichever conftest.py was imported last.
    """
    def load(win, slot: str, path, arch: str = "small_cnn") -> None:
        with qtbot.waitSignal(win.service.worker.model_loaded, timeout=60_000,
                              check_params_cb=lambda info: info.slot == slot):
            win.slots.load(slot, str(path), arch)
    return load


@pytest.fixture
def fill_training_form():
    """Set a Training tab up for a small, fast small_cnn run on `data` into `out`."""
    def fill(tab, data, out, epochs: int) -> None:
        tab.data.setText(str(data))
        tab.out.setText(str(out))
        for arch, box in tab.arch_boxes.items():
            box.setChecked(arch == "small_cnn")
        tab.epochs.setValue(epochs)
        tab.batch.setValue(4)
        tab.size.setValue(32)
    return fill
