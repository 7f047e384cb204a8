"""Entry script of the frozen app: the same main() as the `gcam-desktop` console script.

A separate file because PyInstaller runs its entry as `__main__`, where the relative imports
of gcam_desktop/app/__main__.py would fail. main() dispatches `train ...` to the trainer
before anything imports Qt.
"""

import sys

from gcam_desktop.app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
