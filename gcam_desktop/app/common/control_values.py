"""What the shared controls say (method, layer, class, scale, colours, opacity, the difference
pair, the options row's values per method): the values the Compare tab's controls show and the settings remember, with their
defaults and valid ranges. Plain data, no Qt: the settings (this package) read their
"controls" defaults and checks off this dataclass, so it lives below the features."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OWN_PREDICTION = -1  # the class to explain: each model's own prediction
NORMALISATIONS = (("per_map", "Per panel"), ("shared", "Shared scale"))


def _is_class(value) -> bool:
    return isinstance(value, str) or value == OWN_PREDICTION


def _positive_options(value: dict) -> bool:
    """The options row holds counts and sizes (patch, stride, masks): none below 1."""
    return all(not isinstance(v, (int, float)) or v >= 1 for opts in value.values() for v in opts.values())


@dataclass(frozen=True)
class ControlValues:
    """What the shared controls say now (saved as the settings' "controls" by `asdict`).
    A field's `valid` metadata is what the settings check beyond its type."""

    opacity: float = field(default=0.5, metadata={"valid": lambda v: 0.0 <= v <= 1.0})
    colormap: str | None = "jet"
    method: str | None = "gradcam"
    layer: str = ""             # "" = each model's default layer
    target: int | str = field(default=OWN_PREDICTION, metadata={"valid": _is_class})  # or a class name
    normalization: str | None = field(
        default="per_map", metadata={"valid": lambda v: v is None or v in dict(NORMALISATIONS)})
    diff_a: str | None = None   # the two slots the difference panel compares (None: the first two)
    diff_b: str | None = None
    show_diff: bool = False
    # The options row (controls.py COST_OPTIONS): {method: {option: value}} as last set there,
    # for every method that has the row; an option not here takes the engine's default.
    method_options: dict[str, dict[str, int | float | str]] = field(
        default_factory=dict, metadata={"valid": _positive_options})

    def asdict(self) -> dict:
        return asdict(self)
