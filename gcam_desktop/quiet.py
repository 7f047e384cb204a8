"""Users see the program's own messages, not its dependencies' internals.

torch, torchvision, PIL, timm and numpy warn about their own implementation details ("Detected
pickle protocol 4 ...", deprecations): nothing a user can act on, and alarming next to the
program's real messages. Every entry point calls `quiet_library_warnings()` first; warnings
raised by this program's own code still show. GCAM_DESKTOP_SHOW_WARNINGS=1 shows them all.
"""

from __future__ import annotations

import os
import warnings

LIBRARIES = ("torch", "torchvision", "PIL", "timm", "numpy", "safetensors", "pyqtgraph", "natsort", "tqdm")


def quiet_library_warnings() -> None:
    if os.environ.get("GCAM_DESKTOP_SHOW_WARNINGS"):
        return
    for lib in LIBRARIES:
        # `module` is matched against the module the warning is attributed to.
        warnings.filterwarnings("ignore", module=rf"{lib}(\..*)?$")
