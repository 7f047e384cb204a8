"""A progress bar for people, on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys


def progress_bar(total: int, initial: int, desc: str, unit: str = "step"):
    """A tqdm bar on stderr when it is a terminal; None otherwise (logs and pipes stay clean)."""
    stream = sys.stderr
    if stream is None or not getattr(stream, "isatty", lambda: False)():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, file=stream, leave=False, dynamic_ncols=True,
                unit=unit)
