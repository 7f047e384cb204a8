"""Runtime hook of the frozen app: runs before the entry script, in the app and in its trainer.

1. Standard streams. A windowed build (Windows, macOS) starts with sys.stdout / sys.stderr
   set to None when it has no console, and libraries that print (tqdm, warnings, argparse)
   then crash. When the process does have a stream on that descriptor (the training tab starts
   `gcam-desktop train ...` with pipes, so the trainer's fd 1 carries the JSON events), wrap it;
   otherwise write to the null device.
2. torch.compile is never used by the app, and the bundle leaves out triton (its GPU compiler):
   TORCH_COMPILE_DISABLE makes any stray torch.compile a no-op instead of a failed build.
   DataLoader workers need nothing here: the trainer picks 0 when sys.frozen is set.
"""

import os
import sys


def _stream(fd: int, mode: str):
    try:
        os.fstat(fd)
        return open(fd, mode, encoding="utf-8", errors="backslashreplace",
                    buffering=1 if "w" in mode else -1, closefd=False)
    except (OSError, ValueError):
        return open(os.devnull, mode, encoding="utf-8")


def _fill_missing_streams() -> None:
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:
            stream = _stream(fd, mode)
            setattr(sys, name, stream)
            if getattr(sys, f"__{name}__") is None:
                setattr(sys, f"__{name}__", stream)


_fill_missing_streams()
os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")
