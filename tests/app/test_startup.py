"""Start-up: `train` dispatch before Qt, the window before torch, and --self-test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path) -> dict:
    env = dict(os.environ)
    env.update(GCAM_DESKTOP_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


@pytest.mark.slow
def test_train_subcommand_runs_the_trainer_without_loading_qt(tmp_path):
    code = ("import sys; from gcam_desktop.app.__main__ import main\n"
            f"rc = main(['train', 'synth', '--out', {str(tmp_path / 'synth')!r}, '--classes', '2', "
            "'--per-class', '2', '--size', '16'])\n"
            "qt = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken6'))]\n"
            "print(rc, qt); sys.exit(rc or (3 if qt else 0))\n")
    r = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list((tmp_path / "synth" / "images").rglob("*.png"))) == 4


def test_the_window_is_built_without_importing_torch(tmp_path):
    code = ("import sys\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from gcam_desktop.app.main_window import MainWindow\n"
            "w = MainWindow(); w.show(); app.processEvents()\n"
            "bad = [m for m in ('torch', 'torchvision', 'gcam_desktop.models.registry', 'gcam_desktop.models.checkpoint') if m in sys.modules]\n"
            "w.close(); print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _self_test(tmp_path, *args):
    r = subprocess.run([sys.executable, "-m", "gcam_desktop.app", "--self-test", *map(str, args)],
                       env=_env(tmp_path), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, r.stdout + r.stderr
    return r.returncode, json.loads(lines[0]), r.stderr


def test_self_test_explains_with_every_loaded_model(tmp_path, checkpoints, image_folder_3cls):
    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    code, report, err = _self_test(tmp_path, "--weights", f"small_cnn={checkpoints['a']}", image)
    assert code == 0, (report, err)
    assert report["self_test"] == "ok" and report["image"] == str(image)
    assert 0 < report["launch_to_window_s"] < 60 and report["engine_load_s"] > 0
    (model,) = report["models"].values()
    assert model["arch"] == "small_cnn" and model["checkpoint"] == str(checkpoints["a"])
    assert model["first_explanation_s"] > 0 and model["map_shape"] == [32, 32]
    assert not model["untrained"]


@pytest.mark.slow
def test_self_test_fails_with_the_reason(tmp_path, checkpoints, image_folder_3cls):
    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    code, report, err = _self_test(tmp_path, "--weights", f"small_cnn={checkpoints['broken']}", image)
    assert code != 0 and report["self_test"] == "failed"
    assert "broken.pt" in report["reason"] and "truncated" in report["reason"]
    assert "self-test failed" in err


def test_singletons_are_pinned_where_the_bindings_leak_them(tmp_path):
    """PySide6 6.12.0 on CPython 3.11 drops a reference to None per void call (and to True per
    emit); without the pin a long session aborts. Where the leak is measured, the pin is there."""
    code = ("import sys\n"
            "from PySide6.QtCore import QObject\n"
            "from gcam_desktop.app.common.qt_compat import install, measure_leaks\n"
            "leaks = install()\n"
            "o = QObject()\n"
            "for _ in range(200_000): o.setObjectName('x')\n"       # more than None had to lose
            "pinned = sys.getrefcount(None) > 2**39 and sys.getrefcount(True) > 2**39\n"
            "print(leaks, pinned)\n"
            "sys.exit(0 if pinned or not any(n > 0 for n in measure_leaks().values()) else 1)\n")
    r = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_self_test_finishes_when_the_results_were_in_before_it_started(
        qtbot, make_window, checkpoints, image_folder_3cls, load_slot, capsys):
    """A path given at launch is opened (and explained) before the self-test starts; the
    self-test must not then wait for a result that has already come."""
    from gcam_desktop.app.tooling.self_test import SelfTest

    win = make_window()
    load_slot(win, "baseline", checkpoints["a"])
    image = str(sorted(image_folder_3cls.rglob("*.png"))[0])
    win.add_paths([image])
    win.show_image(image)
    qtbot.waitUntil(lambda: "baseline" in win.explanations.results, timeout=60_000)
    # Not QApplication.exit: it would make every later event loop in this process return at once.
    codes = []
    test = SelfTest(win, {}, sample_paths=[image], timeout_s=120, quit=codes.append)
    test.start()
    qtbot.waitUntil(lambda: bool(codes), timeout=30_000)
    assert test.exit_code == 0 and codes == [0]
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["self_test"] == "ok" and list(report["models"]) == ["baseline"]
    assert report["models"]["baseline"]["first_explanation_wall_s"] is None


@pytest.mark.slow
def test_self_test_runs_exactly_what_weights_names_and_fails_on_any_refusal(tmp_path, checkpoints, image_folder_3cls,
                                                                           bad_files):
    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    config = tmp_path / "data" / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"slots": [  # remembered: another model
        {"name": "baseline", "arch": "small_cnn", "checkpoint": str(checkpoints["b"]), "enabled": True},
        {"name": "SE", "arch": "small_cnn", "checkpoint": str(checkpoints["c"]), "enabled": True}]}))
    code, report, _ = _self_test(tmp_path, "--weights", f"small_cnn={checkpoints['a']}", image)
    assert code == 0 and report["self_test"] == "ok", report
    assert [m["checkpoint"] for m in report["models"].values()] == [str(checkpoints["a"])]  # not b, not c
    code, report, err = _self_test(tmp_path, "--weights", f"small_cnn={checkpoints['a']}",
                                   "--weights", f"resnet50={bad_files['empty.pt']}", image)
    assert code == 1 and report["self_test"] == "failed" and "empty file" in report["reason"], report
    code, report, _ = _self_test(tmp_path, "--weights", f"resnet50={checkpoints['a']}", image)
    assert code == 1 and "small_cnn" in report["reason"], report  # the wrong architecture is no pass


@pytest.mark.slow
def test_a_self_test_leaves_the_users_setup_as_it_was(tmp_path, checkpoints, image_folder_3cls):
    """--weights and the image run, but neither joins the user's slots or recent files, and the
    offscreen window's geometry is not stored over the user's (issue 24)."""
    import shutil

    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    (tmp_path / "ck").mkdir()
    shutil.copy(checkpoints["a"], tmp_path / "ck" / "model.pt")
    config = tmp_path / "data" / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"slots": [  # remembered: another model
        {"name": "baseline", "arch": "small_cnn", "checkpoint": str(checkpoints["b"]), "enabled": True}],
        "recent_files": ["/pictures/cat.png"], "controls": {"opacity": 0.3}}, indent=1))
    (config / "window.ini").write_text("[General]\nsplitter=@ByteArray(x)\n")
    before = {p.name: p.read_bytes() for p in config.iterdir()}
    code, report, _ = _self_test(tmp_path, "--weights", "small_cnn=ck/model.pt", image)  # run in tmp_path
    assert code == 0, report
    assert [m["checkpoint"] for m in report["models"].values()] == [str(tmp_path / "ck" / "model.pt")]  # absolute
    assert {p.name: p.read_bytes() for p in config.iterdir()} == before


@pytest.mark.slow
def test_remembered_weights_run_from_any_folder_and_a_gone_file_is_reported(tmp_path, checkpoints, image_folder_3cls):
    import shutil

    image = sorted(image_folder_3cls.rglob("*.png"))[0]
    (tmp_path / "ck").mkdir()
    shutil.copy(checkpoints["a"], tmp_path / "ck" / "model.pt")
    remembered = [str(tmp_path / "ck" / "model.pt")]
    config = tmp_path / "data" / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"slots": [
        {"name": "baseline", "arch": "small_cnn", "checkpoint": remembered[0], "enabled": True},
        {"name": "SE", "arch": "small_cnn", "checkpoint": None, "enabled": False},
        {"name": "s_se", "arch": "small_cnn", "checkpoint": None, "enabled": False}]}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([sys.executable, "-m", "gcam_desktop.app", "--self-test", str(image)], env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300, cwd=elsewhere)
    report = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][0])
    assert r.returncode == 0 and [m["checkpoint"] for m in report["models"].values()] == remembered, report
    (tmp_path / "ck" / "model.pt").unlink()
    r = subprocess.run([sys.executable, "-m", "gcam_desktop.app", "--self-test", str(image)], env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300, cwd=elsewhere)
    report = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][0])
    assert r.returncode == 1 and "remembered checkpoint" in report["reason"] and "is gone" in report["reason"]
