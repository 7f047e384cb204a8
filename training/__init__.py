"""The shared trainer: the paper's recipe on any image folder, with live events. Qt-free.

Command line: `gcam-train` (training/cli.py), also `python -m training`. Python API:

    from training import TrainConfig, train
    result = train(TrainConfig(data="photos", archs=["resnet50", "se_resnet50"], epochs=50),
                   on_event=print)

`make_synthetic` writes the synthetic set with masks; `run_demo` builds the demo models.
Names are imported lazily so that `import training` (and `gcam-train synth`) stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gcam_desktop.lazy import lazy_attributes

__all__ = ["DataError", "RunError", "StopFlag", "TrainConfig", "make_synthetic", "run_demo", "train"]

_WHERE = {"DataError": "data", "RunError": "run", "StopFlag": "stopping", "TrainConfig": "config",
          "make_synthetic": "synth", "run_demo": "demo", "train": "run"}

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig
    from .data import DataError
    from .demo import run_demo
    from .run import RunError, train
    from .stopping import StopFlag
    from .synth import make_synthetic

__getattr__ = lazy_attributes(__name__, globals(), _WHERE)
