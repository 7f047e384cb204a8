"""python -m gcam_desktop.explain: the gcam-explain command."""

import sys

from .cli import main

sys.exit(main())
