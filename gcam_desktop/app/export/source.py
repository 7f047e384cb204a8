"""What the exports read, handed to them by the main window (never the window itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from gcam_desktop.app.attention.view import AttentionSource
from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.app.compare.explanation_controller import ExplanationController
from gcam_desktop.app.inference.messages import ModelInfo


@dataclass(frozen=True)
class ExportSource:
    explanations: ExplanationController    # the image, its results, the maps as the panels show them
    controls: Controls                     # colour map, opacity, scale, the panels' colour bar
    view: ComparisonView                   # the panels' order and the difference panel
    models: Mapping[str, ModelInfo]        # slot -> the model its panel shows
    attention: AttentionSource             # the Attention tab's image and models
    last_folder: Callable[[], str]         # where a save dialog starts ("" for the home folder)
