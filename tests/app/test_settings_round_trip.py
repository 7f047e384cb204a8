"""Every remembered control, set to something other than its default through the real widgets,
is shown again by a new window built from the same settings file (issue 23)."""

from __future__ import annotations

from gcam_desktop.app.common.settings import CONTROLS, FAMILIES, GENERAL, SLOT, TRAINING, Settings


def _choose(combo, data) -> None:
    i = combo.findData(data)
    assert i >= 0, (data, [combo.itemData(j) for j in range(combo.count())])
    combo.setCurrentIndex(i)


def _other(combo, than):
    """Some item of `combo` other than `than` (a non-default choice)."""
    for i in range(combo.count()):
        if combo.itemData(i) not in (than, None, ""):
            return combo.itemData(i)
    raise AssertionError(f"no choice besides {than!r}")


def _shown(win) -> dict:
    """What the window's widgets show of everything the settings remember."""
    tab = win.training
    slots = {name: {"arch": st.arch, "checkpoint": st.checkpoint, "enabled": st.enabled}
             for name, st in win.slots.states.items()}
    training = {"data": tab.data.text(), "out": tab.out.text(), "archs": tab.archs(), "init": tab.init.text(),
                "processes": tab.processes.value(), "epochs": tab.epochs.value(), "batch_size": tab.batch.value(),
                "lr": tab.lr.value(), "input_size": tab.size.value(), "dedup": tab.dedup.isChecked(),
                "allow_unvalidated_classes": tab.unvalidated.isChecked(), "shuffle_labels": tab.shuffle.isChecked(),
                "probe": tab.probe.value(), "keep_every": tab.keep_every.value()}
    general = {"device": win.status.device_combo.currentData(), "last_folder": win.settings["last_folder"],
               **{key: list(win.settings[key]) for key in ("recent_folders", "recent_files", "recent_checkpoints")}}
    families = {"method_a": win.families.method_a.currentData(), "method_b": win.families.method_b.currentData()}
    return {"controls": win.controls.values().asdict(), "slots": slots, "training": training, "general": general,
            "families": families}


def test_every_remembered_control_survives_a_restart(qtbot, make_window, checkpoints, load_slot, class_names,
                                                      image_folder_3cls, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    win = make_window()
    qtbot.waitUntil(lambda: win.families is not None, timeout=10_000)  # the tabs installed after the first paint
    defaults = _shown(win)
    load_slot(win, "baseline", checkpoints["a"])
    load_slot(win, "SE", checkpoints["b"])
    c = win.controls
    c.opacity.setValue(37)
    _choose(c.cmap, _other(c.cmap, "jet"))
    _choose(c.method, "occlusion")                              # the options row (issue 21)
    c.option_fields["stride"].setValue(c.option_fields["stride"].value() + 1)
    _choose(c.method, "rise")
    c.option_fields["masks"].setValue(c.option_fields["masks"].value() // 2)
    _choose(c.method, "layercam")
    _choose(c.layer, _other(c.layer, ""))
    _choose(c.target, class_names[1])
    _choose(c.norm, "shared")
    _choose(c.diff_a, "SE")
    _choose(c.diff_b, "baseline")
    c.show_diff.setChecked(True)
    card = win.slots.cards["custom"]
    card.enabled.setChecked(True)
    _choose(card.arch, "se_resnet50")
    win.slots.cards["s_se"].enabled.setChecked(False)
    _choose(win.status.device_combo, _other(win.status.device_combo, win.settings["device"]))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(image_folder_3cls))
    win.open_folder()                                           # last_folder, recent_folders
    win.add_paths([str(sorted(image_folder_3cls.rglob("*.png"))[0])])    # recent_files
    tab = win.training
    tab.data.setText(str(image_folder_3cls))
    tab.out.setText(str(tmp_path / "run"))
    tab.init.setText(str(checkpoints["c"]))
    for arch, box in tab.arch_boxes.items():
        box.setChecked(arch in ("small_cnn", "resnet50"))
    tab.processes.setValue(3)
    tab.epochs.setValue(7)
    tab.batch.setValue(16)
    tab.lr.setValue(0.0005)
    tab.size.setValue(64)
    tab.dedup.setChecked(True)
    tab.unvalidated.setChecked(True)
    tab.shuffle.setChecked(True)
    tab.probe.setValue(2)
    tab.keep_every.setValue(3)
    _choose(win.families.method_a, "saliency")
    _choose(win.families.method_b, "occlusion")
    before = _shown(win)
    # Each remembered field is covered, and each was changed from its default.
    assert set(before["controls"]) == {s.name for s in CONTROLS}
    assert set(before["training"]) == {s.name for s in TRAINING}
    assert set(before["families"]) == {s.name for s in FAMILIES}
    assert set(before["general"]) == {s.name for s in GENERAL} - {"version"}
    assert set(before["slots"]["custom"]) == {s.name for s in SLOT} - {"name"}
    for section in before:
        for key, value in before[section].items():
            if section == "slots":
                continue
            assert value != defaults[section][key], f"{section}.{key} was not changed from its default"
    assert before["slots"] != defaults["slots"]
    win.close()

    again = make_window(slots_arch=None, resize=False)
    qtbot.waitUntil(lambda: all(again.slots.states[s].info is not None for s in ("baseline", "SE")), timeout=60_000)
    qtbot.waitUntil(lambda: again.families is not None, timeout=10_000)
    after = _shown(again)
    for section, values in before.items():
        assert after[section] == values, section
    _choose(again.controls.method, "occlusion")                  # shown again in the row
    assert again.controls.option_fields["stride"].value() == before["controls"]["method_options"]["occlusion"]["stride"]
    assert Settings.load().warning is None
