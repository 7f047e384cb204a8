"""`gcam-desktop --self-test`: the real window (offscreen), the real worker, one sample image
explained by every loaded model; one JSON line of timings on stdout; exit 0, or 1 with the
reason. With no checkpoint anywhere (a fresh bundle, CI) it builds untrained models of the
three architectures: the code path is the same, only the weights are random.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from gcam_desktop.imaging import is_image_path, scan_folder
from gcam_desktop.models.pretrained_refs import absolute_ref
from gcam_desktop.paths import DEMO_ARCHS, samples_dir

from gcam_desktop.app.inference.messages import EngineInfo


def find_sample(paths) -> Path | None:
    from gcam_desktop.app.demo import sample_images

    for p in [*map(Path, paths or []), sample_images()]:
        if p.is_file() and is_image_path(p):
            return p
        if p.is_dir():
            for found in scan_folder(p):
                return found
    return None


class SelfTest(QObject):
    def __init__(self, win, timings: dict, sample_paths=None, timeout_s: float = 600.0,
                 quit=None, weights=()) -> None:
        super().__init__(win)
        # How to end: by default the application's exit (its event loop returns the code).
        self._quit = quit or (lambda code: QApplication.instance().exit(code))
        self.win = win
        self.timings = timings
        self.sample_paths = sample_paths
        # (arch, path) from --weights: exactly these must run, or the self-test fails.
        self.weights = [(arch, absolute_ref(path)) for arch, path in weights]
        self.timeout_s = timeout_s
        self.exit_code = 1
        self.report: dict = {}
        self._t_engine = 0.0
        self._t_request = 0.0
        self._wall: dict[str, float | None] = {}
        self._done = False
        self.sample: Path | None = None

    def start(self) -> None:
        self._t_engine = time.perf_counter()
        self.sample = find_sample(self.sample_paths)
        if self.sample is None:
            self._finish(False, f"no sample image: none given and none under {samples_dir()}")
            return
        QTimer.singleShot(int(self.timeout_s * 1000), lambda: self._finish(False, f"timed out after {self.timeout_s:.0f} s"))
        svc = self.win.service
        svc.worker.engine_ready.connect(self._on_engine)
        svc.worker.engine_state.connect(self._on_state)
        if svc.ready:
            self._on_engine(svc.engine_info)

    def _on_state(self, state: str, detail: str) -> None:
        if state == "failed":
            self._finish(False, detail)

    def _on_engine(self, info: EngineInfo) -> None:
        self.timings["engine_load_s"] = time.perf_counter() - self._t_engine
        self.timings["engine_import_s"] = info.seconds
        self.report["device"] = info.device
        QTimer.singleShot(0, self._wait_models)

    def _wait_models(self) -> None:
        if self._done:
            return
        slots = self.win.slots
        if any(s.loading for s in slots.states.values()):
            QTimer.singleShot(50, self._wait_models)
            return
        failed = {s.name: s.error for s in slots.enabled() if s.error}
        if failed:  # a smoke test that passes beside a refusal would hide it
            self.report["errors"] = failed
            self._finish(False, "refused: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
            return
        wrong = self._not_what_was_named()
        if wrong:
            self._finish(False, wrong)
            return
        if not slots.active():
            # Nothing to load anywhere: untrained models exercise the same worker and engine.
            names = sorted({p.parent.name for p in [self.sample]}) or ["class 0"]
            names = _class_names_near(self.sample) or names
            for slot, arch in zip(("baseline", "SE", "s_se"), DEMO_ARCHS):
                slots.cards[slot].enabled.setChecked(True)
                slots.build_untrained(slot, arch, names)
            QTimer.singleShot(50, self._wait_models)
            return
        self.report["errors"] = failed
        self._explain()

    def _not_what_was_named(self) -> str:
        """Why the loaded models are not the --weights files (empty when they are)."""
        problems = []
        for arch, path in self.weights:
            held = [s for s in self.win.slots.active() if s.info.path and absolute_ref(s.info.path) == path]
            if not held:
                problems.append(f"--weights {arch}={path} is not loaded in any panel")
            elif held[0].info.arch != arch:
                problems.append(f"--weights {arch}={path} holds a {held[0].info.arch} model, not {arch}")
        named = {p for _, p in self.weights}
        if self.weights:
            for s in self.win.slots.active():
                if (s.info.path and absolute_ref(s.info.path)) not in named:
                    problems.append(f"{s.name} runs {s.info.path or 'an untrained model'}, which --weights did not name")
        return "; ".join(problems)

    def _explain(self) -> None:
        ex = self.win.explanations
        ex.results_changed.connect(self._check)
        self._t_request = time.perf_counter()
        self.win.add_paths([str(self.sample)])
        ex.set_image(str(self.sample))
        # Paths given on the command line were opened before the self-test started, so their
        # results may already be in (set_image of the same path asks for nothing new): check
        # now, not only on a change that would never come.
        for slot in ex.results:
            self._wall.setdefault(slot, None)
        self._check()

    def _check(self) -> None:
        ex = self.win.explanations
        active = [s.name for s in self.win.slots.active()]
        now = time.perf_counter()
        for slot in active:
            if slot in ex.results and slot not in self._wall:
                self._wall[slot] = now - self._t_request
        if all(s in ex.results for s in active):
            models = {}
            ok = True
            reasons = []
            for st in self.win.slots.active():
                res = ex.results[st.name]
                entry = {"arch": st.info.arch, "checkpoint": st.info.path, "untrained": st.info.untrained,
                         "first_explanation_s": round(res.seconds, 4),
                         "first_explanation_wall_s": _round(self._wall.get(st.name))}
                if res.ok:
                    cls = res.target_class
                    entry["top1"] = res.class_names[cls] if 0 <= cls < len(res.class_names) else cls
                    entry["map_shape"] = list(res.map.shape)
                else:
                    ok = False
                    entry["error"] = res.error
                    reasons.append(f"{st.name}: {res.error}")
                models[st.name] = entry
            self.report["models"] = models
            self._finish(ok, "; ".join(reasons))

    def _finish(self, ok: bool, reason: str = "") -> None:
        if self._done:
            return
        self._done = True
        out = {"self_test": "ok" if ok else "failed"}
        if reason:
            out["reason"] = reason
        out.update({k: round(v, 4) for k, v in self.timings.items()})
        out["image"] = str(self.sample) if self.sample else None
        out.update(self.report)
        print(json.dumps(out), flush=True)
        if not ok:
            print(f"gcam-desktop self-test failed: {reason}", file=sys.stderr, flush=True)
        self.exit_code = 0 if ok else 1
        self.win.close()
        self._quit(self.exit_code)


def _round(seconds: float | None) -> float | None:
    """None: the result was there before the self-test asked (a path given at launch)."""
    return None if seconds is None else round(seconds, 4)


def _class_names_near(sample: Path) -> list[str]:
    """Sibling folder names of the sample's folder (ImageFolder layout), as class names."""
    parent = sample.parent.parent
    try:
        names = sorted(d.name for d in parent.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return []
    return names if sample.parent.name in names and len(names) >= 2 else []
