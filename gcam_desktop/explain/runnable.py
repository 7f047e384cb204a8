"""Can a method run on a model at a layer? Asked once, up front, by every front end that explains
many images (gcam-explain and the app's batch export through batch/plan.py, gcam-evaluate), so a
request the model cannot serve is said once before any image is read rather than once per batch
(CAM needs the layer whose output feeds the pooled linear head: at a 64 px ResNet50's default
`layer2` it cannot run). Qt-free.

The engine's own checks answer: the method explains one blank image at the model's input size.
Nothing else could say it without duplicating them (CAM's head is verified numerically, on a
forward). A method that reports progress (explain/progress.py) is stopped at its first report:
by then every check has passed, and the trial does not pay for its many forwards.
"""

from __future__ import annotations

from typing import Any

from .progress import Cancelled, reporting


def why_not_runnable(model: Any, method: str, layer: str | None = None, input_size: int = 224,
                     options: dict | None = None) -> str | None:
    """None if `method` (with `options`) explains an image on `model` at `layer` (None: the
    model's default layer); else the engine's reason, one line (its ValueError)."""
    import torch

    from .engine import explain

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    blank = torch.zeros(1, 3, input_size, input_size, device=device)
    try:
        with reporting(lambda done, total: False):  # a long method's checks are behind it by then
            explain(model, blank, method, layer=layer, top_k=1, **(options or {}))
    except Cancelled:
        return None
    except ValueError as exc:
        return str(exc)
    return None
