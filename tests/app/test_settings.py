import json
import os

from gcam_desktop.app.settings import DEFAULTS, MAX_RECENT, Settings, settings_path, window_settings_path


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
