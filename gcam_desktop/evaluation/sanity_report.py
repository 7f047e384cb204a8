"""The sanity section of report.md and its figure of the cascade curves (evaluation.sanity_run's
result)."""

from __future__ import annotations

from typing import Mapping

from gcam_desktop.evaluation.formatting import missing
from gcam_desktop.evaluation.plots import Panel, line_plot


def _ms(s: Mapping | None) -> str:
    """"0.123 ± 0.045" (mean ± sample SD over the images), or the dash."""
    if not s or s.get("mean") is None:
        return missing()
    return f"{s['mean']:.3f}" + (f" ± {s['sd']:.3f}" if s.get("sd") is not None else "")


def sanity_markdown(sanity: Mapping, figures: list[str]) -> list[str]:
    rule = sanity["pass_rule"]
    out = ["## Sanity checks: does the map depend on what the model learned?", "",
           f"Model-parameter randomisation (Adebayo et al. 2018) on {sanity['images']} images: the weights are "
           f"re-initialised from the output down (the cascade"
           f"{', and one stage at a time' if sanity['independent'] else ''}; seed {sanity['seed']}) and each map "
           "compared with the original. A method passes when its mean "
           f"Spearman rank correlation (absolute maps, input resolution) once the cascade has reached "
           f"{rule['stage']} is below {rule['threshold']:g} (docs/adr/0018); class sensitivity passes when the "
           f"maps for the predicted and the least likely class correlate below {rule['class_threshold']:g}. "
           "Values are mean ± SD over the images.", ""]
    header = ["model", "method", f"Spearman after {rule['stage']}", "images passing", "verdict",
              "predicted vs least likely class (Spearman)", "class sensitivity"]
    data = any("data_randomisation" in b for m in sanity["models"] for b in m["methods"].values())
    if data:
        header += ["real vs shuffled labels (Spearman)", "data randomisation"]
    out += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for m in sanity["models"]:
        for method, b in m["methods"].items():
            out.append("| " + " | ".join(_row(m["name"], method, b, data)) + " |")
    out.append("")
    if sanity.get("shuffled"):
        out += ["Data randomisation: each map of the real model against the same method's map of "
                f"`{sanity['shuffled']}` (trained on shuffled labels, same architecture), for the class the real "
                "model predicts; a method "
                f"passes when they correlate below {rule['threshold']:g}. Models of another architecture are not "
                "compared.", ""]
    out += [f"![{name}]({name})" for name in figures] + ([""] if figures else [])
    return out


def _row(model: str, method: str, b: Mapping, data: bool) -> list[str]:
    v, c = b["verdict"], b["class_sensitivity"]
    verdict = f"no verdict ({v['why']})" if v["result"] == "no verdict" else f"**{v['result']}**"
    n = c["spearman"]["n"]
    passing = missing() if v["images_passed"] is None else f"{v['images_passed']} of {n}"
    row = [model, method, _ms(v["after"]), passing, verdict, _ms(c["spearman"]),
           f"{c['result']} ({c['images_passed']} of {n})"]
    if data:
        d = b.get("data_randomisation")
        row += [_ms(d["spearman"]), d["result"]] if d else [missing("other architecture"), missing()]
    return row


def cascade_figure(model: Mapping, threshold: float):
    """One model's cascade: the mean Spearman of each method against the randomised depth, with
    the pass threshold; None where the model has no methods."""
    methods = model["methods"]
    if not methods:
        return None
    stages = next(iter(methods.values()))["stages"]
    xs = [k / max(1, len(stages) - 1) for k in range(len(stages))]
    series = [(method, xs, [s["mean"] if s["mean"] is not None else 0.0 for s in b["cascade"]["spearman"]])
              for method, b in methods.items()]
    series.append(("pass threshold", [0.0, 1.0], [threshold, threshold]))
    panel = Panel(f"{model['name']}: cascading randomisation", "randomised down to (cumulative)",
                  "Spearman with the original map", series, "br", xticks=list(zip(xs, stages)),
                  yrange=(-1.0, 1.0))
    return line_plot([panel], panel_size=(620, 360))
