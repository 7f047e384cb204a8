"""Damaged settings.json files: each case is the file's text, the fields the app must drop
(named in its one warning) and a field beside them that it must keep."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SettingsCase:
    id: str
    text: str
    dropped: tuple[str, ...]                    # named in the warning, default used
    kept: dict = field(default_factory=dict)    # {"section.key" or "key": value} still there


def _case(id: str, data: dict, dropped: tuple[str, ...], kept: dict | None = None) -> SettingsCase:
    return SettingsCase(id, json.dumps(data, allow_nan=True), dropped, kept or {})


def _slots(**changes) -> list[dict]:
    """The four slots as the app saves them, with one slot's fields changed: slot index -> dict."""
    slots = [{"name": n, "arch": "small_cnn", "checkpoint": None, "enabled": True}
             for n in ("baseline", "SE", "s_se", "custom")]
    for index, fields in changes.items():
        slots[int(index.removeprefix("s"))].update(fields)
    return slots


def damaged_settings() -> list[SettingsCase]:
    keep_method = {"method": "layercam"}
    cases = [
        _case("opacity-nan", {"controls": {"opacity": float("nan"), **keep_method}}, ("controls.opacity",),
              {"controls.method": "layercam"}),
        _case("opacity-inf", {"controls": {"opacity": float("inf"), **keep_method}}, ("controls.opacity",),
              {"controls.method": "layercam"}),
        _case("opacity-out-of-range", {"controls": {"opacity": 7, **keep_method}}, ("controls.opacity",),
              {"controls.method": "layercam"}),
        _case("opacity-text", {"controls": {"opacity": "high", **keep_method}}, ("controls.opacity",),
              {"controls.method": "layercam"}),
        _case("target-float-and-list-pair", {"controls": {"target": 2.5, "diff_a": ["SE"], "diff_b": 3,
                                                          "opacity": 0.25}},
              ("controls.target", "controls.diff_a", "controls.diff_b"), {"controls.opacity": 0.25}),
        _case("show-diff-text-and-scale-unknown", {"controls": {"show_diff": "yes", "normalization": "log",
                                                                "layer": None, "colormap": "viridis"}},
              ("controls.normalization", "controls.layer", "controls.show_diff"), {"controls.colormap": "viridis"}),
        _case("controls-not-an-object", {"controls": [0.5, "jet"], "device": "cpu"}, ("controls",),
              {"device": "cpu"}),
        _case("slot-checkpoint-number", {"slots": _slots(s1={"checkpoint": 5})}, ("slots[1].checkpoint",),
              {"slots[1].arch": "small_cnn"}),
        _case("slot-enabled-text-arch-unknown", {"slots": _slots(s0={"enabled": "yes", "arch": "vgg16"})},
              ("slots[0].arch", "slots[0].enabled"), {"slots[2].arch": "small_cnn"}),
        _case("slots-a-mapping", {"slots": {"baseline": {"arch": "small_cnn"}}, "last_folder": "/data"},
              ("slots",), {"last_folder": "/data"}),
        _case("slot-entries-not-objects", {"slots": ["baseline", None, *_slots()[2:]]},
              ("slots[0]", "slots[1]"), {"slots[2].arch": "small_cnn"}),
        _case("recent-lists-of-wrong-things", {"recent_files": [1, None], "recent_folders": "/data",
                                               "recent_checkpoints": ["/x/a.pt"]},
              ("recent_folders", "recent_files"), {"recent_checkpoints": ["/x/a.pt"]}),
        _case("top-level-wrong-types", {"last_folder": 3, "device": None, "version": "1",
                                        "recent_folders": ["/data"]},
              ("version", "device", "last_folder"), {"recent_folders": ["/data"]}),
        _case("training-numbers-broken", {"training": {"epochs": float("nan"), "batch_size": True, "lr": 0,
                                                       "input_size": 1e400, "data": "/data/set"}},
              ("training.epochs", "training.batch_size", "training.lr", "training.input_size"),
              {"training.data": "/data/set"}),
        _case("training-lists-and-choices", {"training": {"archs": ["vgg16"], "processes": 0, "dedup": "on",
                                                          "init": 3, "out": "/runs"}},
              ("training.archs", "training.init", "training.processes", "training.dedup"),
              {"training.out": "/runs"}),
        _case("training-negative-and-text", {"training": {"epochs": -3, "input_size": "128",
                                                          "allow_unvalidated_classes": 1, "batch_size": 8}},
              ("training.epochs", "training.input_size", "training.allow_unvalidated_classes"),
              {"training.batch_size": 8}),
        _case("training-not-an-object", {"training": "paper", "controls": {"opacity": 0.3}}, ("training",),
              {"controls.opacity": 0.3}),
    ]
    unreadable = [SettingsCase("truncated-json", '{"controls": {"opacity": 0.4', ("unreadable",)),
                  SettingsCase("top-level-a-list", "[1, 2, 3]", ("unreadable",)),
                  SettingsCase("empty-file", "", ("unreadable",))]
    return cases + unreadable
