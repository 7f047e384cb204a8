"""Start-up order: QApplication, style, window, first paint; only then the engine (torch, in
its thread), and one event-loop turn later the image views (pyqtgraph): docs/adr/0005."""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

from gcam_desktop import __version__


def run(args, launch_clock: Callable[[], float]) -> int:
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gcam_desktop.app.common.qt_compat import install

    install()  # before the first signal is emitted
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("gcam-desktop")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("gcam-desktop")

    from gcam_desktop.app.main_window import MainWindow
    from gcam_desktop.app.common.settings import Settings
    from gcam_desktop.app.common.style import apply_style

    apply_style(app)
    settings = Settings.load()
    if args.self_test:  # a smoke test runs the user's setup but changes none of it (--weights included)
        settings = settings.scratch_copy()
    win = MainWindow(settings, device=args.device)
    timings: dict[str, float] = {}
    self_test = None
    if args.self_test:
        from gcam_desktop.app.tooling.self_test import SelfTest

        self_test = SelfTest(win, timings, sample_paths=args.paths, timeout_s=args.self_test_timeout,
                             weights=args.weights)

    def after_paint() -> None:
        now = launch_clock()
        # Painted at first_paint_at; since then the image views have been attached.
        timings["launch_to_window_s"] = now - (time.perf_counter() - win.first_paint_at)
        timings["launch_to_views_s"] = now
        if args.quit_after_paint:
            import json

            print(json.dumps({k: round(v, 4) for k, v in timings.items()}), flush=True)
            win.close()
            app.quit()
            return
        # A self-test given --weights runs exactly those: no remembered slot may stand in.
        if args.quit_after_maps:
            _quit_after_maps(app, win, timings, launch_clock)
        win.start_engine(restore_slots=not (args.self_test and args.weights))
        apply_arguments(win, args)
        if self_test is not None:
            self_test.start()

    win.painted.connect(after_paint, type=_single_shot())
    win.show()
    code = app.exec()
    win.shutdown()
    if self_test is not None:
        return self_test.exit_code
    return code


def _quit_after_maps(app, win, timings: dict, launch_clock: Callable[[], float]) -> None:
    """For bench/app.py: seconds from launch to each panel's first map, then quit."""
    import json

    from PySide6.QtCore import QTimer

    first: dict[str, float] = {}

    def check() -> None:
        for slot, res in win.explanations.results.items():
            if res.ok and slot not in first:
                first[slot] = launch_clock()
        enabled = win.slots.enabled()
        if first and not any(s.loading for s in enabled) and all(s.name in first for s in enabled if s.info):
            print(json.dumps({**{k: round(v, 4) for k, v in timings.items()},
                              "launch_to_map_s": {k: round(v, 4) for k, v in first.items()}}), flush=True)
            win.close()
            app.quit()

    win.explanations.results_changed.connect(check)
    QTimer.singleShot(600_000, app.quit)


def _single_shot():
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.SingleShotConnection


def apply_arguments(win, args) -> None:
    """Command-line paths, --weights and --demo, once the window is up."""
    from gcam_desktop.app.demo import start_demo

    for arch, path in args.weights:
        win.load_checkpoint_for_arch(arch, path)
    if args.paths:
        win.add_paths(args.paths)
    if args.demo:
        start_demo(win, train_missing=not args.self_test)
