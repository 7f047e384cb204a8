"""Damaged settings fall back to defaults field by field, with one warning naming the file and
the fields dropped, and the real window starts on each of them (issue 24)."""

from __future__ import annotations

import re

import pytest

from corpus.settings import SettingsCase, damaged_settings
from gcam_desktop.app.common.settings import DEFAULTS, Settings, settings_path

CASES = damaged_settings()


def _value(data: dict, where: str):
    """data["controls"]["opacity"] for "controls.opacity", data["slots"][1]["arch"] for "slots[1].arch"."""
    for part in where.split("."):
        m = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        data = data[m[1]][int(m[2])] if m else data[part]
    return data


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_damaged_settings_keep_the_good_fields_and_name_the_bad(case: SettingsCase, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(case.text)
    s = Settings.load(path)
    assert s.warning is not None and str(path) in s.warning and "\n" not in s.warning
    if case.dropped == ("unreadable",):
        assert "unreadable settings" in s.warning and s.data == DEFAULTS
        return
    named = s.warning.split("defaults used for ", 1)[1].split(", ")
    assert sorted(named) == sorted(case.dropped)
    for where in case.dropped:
        assert _value(s.data, where) == _value(DEFAULTS, where), where
    for where, value in case.kept.items():
        assert _value(s.data, where) == value, where
    s.save()  # what the app writes back reads again without a warning
    assert Settings.load(path).warning is None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_window_starts_on_damaged_settings(case: SettingsCase, make_window, qtbot):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(case.text)
    win = make_window(slots_arch=None)  # engine started, remembered slots restored
    qtbot.waitUntil(lambda: not any(s.loading for s in win.slots.states.values()), timeout=60_000)
    assert win.isVisible() and win.settings.warning is not None
    win.controls.values()  # the controls read back what they were given
    win.close()
    assert Settings.load().warning is None  # the app saved good settings back
