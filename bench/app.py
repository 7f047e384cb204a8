"""The desktop app's speed goals (launch to window, 10,000-image folder, opacity repaint).

The measurements live in gcam_desktop.app.tooling.bench because they drive real widgets; this file
puts them beside the other benchmarks so `make bench` runs them too.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gcam_desktop.app.tooling.bench import main  # noqa: E402

if __name__ == "__main__":
    main()
