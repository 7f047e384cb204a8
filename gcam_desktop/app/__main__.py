"""`gcam-desktop [PATH ...] [--weights ARCH=CHECKPOINT ...] [--demo] [--self-test] [--device D]`

`gcam-desktop train ...` runs the trainer instead (the frozen bundle launches its own trainer
that way, since there `sys.executable` is this program); it is dispatched before anything
imports Qt. The window is shown before torch is imported; the engine loads behind it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from gcam_desktop.models.names import ARCHS

_IMPORTED_AT = time.perf_counter()


def seconds_since_launch() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since this import)."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            start_ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED_AT


def _weights(text: str) -> tuple[str, str]:
    from gcam_desktop.models.pretrained_refs import pretrained_arch, split_arch_ref

    arch, path = split_arch_ref(text)  # ARCH=CHECKPOINT, read as every entry point reads it
    if arch is not None:
        return arch, path
    if pretrained_arch(text):  # --weights imagenet:resnet50
        return pretrained_arch(text), text
    named, _, rest = text.partition("=")  # for the message only: what stood where ARCH goes
    if rest and named not in ARCHS:
        raise argparse.ArgumentTypeError(f"{named!r} is not an architecture; choose from {', '.join(ARCHS)}")
    raise argparse.ArgumentTypeError(f"{text!r}: use ARCH=CHECKPOINT, e.g. se_resnet50=runs/x/best.pt")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="gcam-desktop",
        description="Compare Grad-CAM explanations of ResNet50, SE-ResNet50 and s_se-ResNet50 side by side. "
                    "`gcam-desktop train ...` runs the trainer (same options as gcam-train).")
    p.add_argument("paths", nargs="*", metavar="PATH", help="images or folders to open")
    p.add_argument("--weights", action="append", type=_weights, default=[], metavar="ARCH=CHECKPOINT",
                   help="load a checkpoint into the slot for ARCH (repeatable); CHECKPOINT may be "
                        "imagenet:resnet50 (torchvision) or imagenet:se_resnet50 (timm) for ImageNet weights")
    p.add_argument("--demo", action="store_true",
                   help="open the sample images and the demo models (trains them in the background if missing)")
    p.add_argument("--self-test", action="store_true",
                   help="open offscreen, explain one sample with every loaded model, print timings as JSON, exit")
    p.add_argument("--self-test-timeout", type=float, default=600.0, metavar="S", help=argparse.SUPPRESS)
    # For benchmarks: print {"launch_to_window_s": ...} once the window has painted, then quit.
    p.add_argument("--quit-after-paint", action="store_true", help=argparse.SUPPRESS)
    # For bench/app.py: print {"launch_to_map_s": {slot: s}, ...} once every panel has its first map.
    p.add_argument("--quit-after-maps", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--version", action="version", version=_version())
    return p.parse_args(argv)


def _version() -> str:
    from gcam_desktop import __version__

    return f"gcam-desktop {__version__}"


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # first: a frozen child process must not open a window
    argv = list(sys.argv[1:] if argv is None else argv)
    from gcam_desktop.quiet import quiet_library_warnings

    quiet_library_warnings()  # the window and the terminal show the program's messages only
    if argv and argv[0] == "train":
        from training.cli import main as train_main  # no Qt on this path

        return int(train_main(argv[1:]) or 0)
    args = parse_args(argv)
    from gcam_desktop.app.application import run

    return run(args, seconds_since_launch)


if __name__ == "__main__":
    sys.exit(main())
