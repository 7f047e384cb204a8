import pytest
import json
import os

from gcam_desktop.app.common.settings import DEFAULTS, MAX_RECENT, Settings, settings_path, window_settings_path


def test_settings_live_under_the_isolated_data_dir():
    data = os.environ["GCAM_DESKTOP_DATA_DIR"]
    assert str(settings_path()).startswith(data)
    assert str(window_settings_path()).startswith(data)


def test_round_trip_and_atomic_write(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    s = Settings.load(path)
    assert s.data == DEFAULTS
    s.controls["opacity"] = 0.8
    s["slots"][1]["checkpoint"] = "/x/se.pt"
    for i in range(MAX_RECENT + 3):
        s.add_recent("recent_folders", f"/data/{i}")
    s.add_recent("recent_folders", "/data/3")  # again: moves to the front, no duplicate
    s.save()
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp file left
    back = Settings.load(path)
    assert back.controls["opacity"] == 0.8
    assert back["slots"][1]["checkpoint"] == "/x/se.pt"
    assert back["recent_folders"][0] == "/data/3"
    assert len(back["recent_folders"]) == MAX_RECENT == len(set(back["recent_folders"]))


def test_damaged_or_odd_settings_fall_back_to_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    s = Settings.load(path)
    assert s.data == DEFAULTS and "unreadable settings" in s.warning and str(path) in s.warning
    path.write_text(json.dumps({"controls": {"opacity": "high", "method": "layercam"},
                                "slots": [{"arch": "small_cnn", "enabled": "yes"}], "unknown": 1}))
    s = Settings.load(path)
    assert s.controls["opacity"] == DEFAULTS["controls"]["opacity"]   # wrong type: default kept
    assert s.controls["method"] == "layercam"
    assert s["slots"][0]["arch"] == "small_cnn" and s["slots"][0]["enabled"] is True
    assert [sl["name"] for sl in s["slots"]] == ["baseline", "SE", "s_se", "custom"]


@pytest.mark.slow
def test_controls_slots_and_window_layout_survive_a_restart(qtbot, make_window, checkpoints, load_slot):
    win = make_window()
    load_slot(win, "s_se", checkpoints["c"])
    c = win.controls
    c.opacity.setValue(73)
    c.norm.setCurrentIndex(c.norm.findData("shared"))
    c.method.setCurrentIndex(c.method.findData("layercam"))
    win.slots.cards["custom"].enabled.setChecked(True)
    win.close()
    ini = window_settings_path().read_text()
    assert "geometry" in ini and "splitter" in ini     # QSettings, in the isolated folder
    again = make_window(slots_arch=None, resize=False)
    assert again.controls.opacity.value() == 73
    assert again.controls.values().normalization == "shared"
    assert again.controls.values().method == "layercam"
    assert again.slots.states["custom"].enabled
    # (offscreen's 800x600 screen clamps the size itself, so check what was stored restores)
    saved = again.qsettings().value("geometry")
    assert again.restoreGeometry(saved) and again.splitter.restoreState(again.qsettings().value("splitter"))
    # The slot's checkpoint loads again by itself.
    qtbot.waitUntil(lambda: again.slots.states["s_se"].info is not None, timeout=60_000)
    assert again.slots.states["s_se"].info.path == str(checkpoints["c"])


@pytest.mark.slow
def test_closing_during_training_asks_first(qtbot, make_window, image_folder_3cls, tmp_path, monkeypatch, fill_training_form):
    from PySide6.QtWidgets import QMessageBox

    win = make_window(start_engine=False)
    tab = win.training
    fill_training_form(tab, image_folder_3cls, tmp_path / "run", epochs=500)
    assert tab.start()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    assert not win.close()                     # "No": the window stays, training goes on
    assert asked and win.isVisible() and tab.running()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert win.close()
    assert not tab.running()


def test_a_scratch_copy_saves_elsewhere_and_leaves_the_file_and_window_state_alone(tmp_path):
    path = tmp_path / "settings.json"
    s = Settings.load(path)
    s.controls["opacity"] = 0.2
    s.save()
    (tmp_path / "window.ini").write_text("[General]\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    scratch = s.scratch_copy()
    assert scratch.data == s.data and scratch.window_path.read_text() == "[General]\n"
    scratch.add_recent("recent_files", "/x/cat.png")
    scratch.save()
    scratch.window_path.write_text("[General]\ngeometry=1\n")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert not scratch.path.is_relative_to(tmp_path)


def test_a_checkpoint_loaded_by_a_relative_path_is_remembered_absolute(make_window, load_slot, checkpoints,
                                                                       monkeypatch):
    win = make_window()
    monkeypatch.chdir(checkpoints["a"].parent)
    load_slot(win, "baseline", checkpoints["a"].name)
    saved = json.loads(settings_path().read_text())
    assert saved["slots"][0]["checkpoint"] == str(checkpoints["a"])
    assert saved["recent_checkpoints"] == [str(checkpoints["a"])]


def test_settings_import_neither_qt_nor_torch():
    import subprocess
    import sys

    code = ("import sys, gcam_desktop.app.common.settings\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph')]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
