"""The evaluation package has no import cycle, and one paired comparison serves both questions
the report answers (SE / s_se vs ResNet50, and attention on vs switched)."""

import ast
import math
from pathlib import Path

import pytest

from gcam_desktop import evaluation as E
from tests.evaluation.test_evaluate import SWITCHED, entry, method_score

PACKAGE = Path(E.__file__).parent


def _imports(path: Path) -> set[str]:
    """The evaluation modules `path` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            name = node.module if node.level == 0 else f"gcam_desktop.evaluation.{node.module}"
            if name == "gcam_desktop.evaluation":
                found |= {f"gcam_desktop.evaluation.{a.name}" for a in node.names}
            else:
                found.add(name)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n.rsplit(".", 1)[1] for n in found if n.startswith("gcam_desktop.evaluation.")}


def test_the_evaluation_modules_import_each_other_without_a_cycle():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert "statistics" not in graph["attention_switch"]  # the cycle of issue 23: a leaf now
    assert "attention_switch" in graph["statistics"]
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import cycle: {' -> '.join(path + [module])}"
        if module in done:
            return
        path.append(module)
        for dep in graph.get(module, ()):
            visit(dep)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_paired_metric_pairs_by_image_and_drops_pairs_without_a_value():
    pairs = [(method_score(1.0), method_score(0.0)), (method_score(1.0), method_score(1.0)),
             (method_score(0.0), method_score(1.0)), (method_score(1.0), method_score(0.0)),
             (method_score(math.nan), method_score(1.0))]  # no mask on one side: not a pair
    p = E.paired_metric(pairs, "pointing_game", resamples=200)
    assert p["images"] == 4 and p["first"] == 0.75 and p["second"] == 0.5
    assert p["first_higher"] == 2 and p["second_higher"] == 1
    assert p["difference"]["mean"] == pytest.approx(0.25) and p["difference"]["n"] == 4
    empty = E.paired_metric([(method_score(math.nan), method_score(math.nan))], "pointing_game")
    assert empty["images"] == 0 and empty["first"] is None and empty["difference"]["mean"] is None


@pytest.mark.slow
def test_both_comparisons_give_the_same_numbers_for_the_same_pairs():
    """The two comparisons differ in names only: the same pairs give the same verdict and numbers."""
    hits = [(1.0, float(i < 10)) for i in range(40)]

    def scores(first, second):
        return [E.ImageScore(path=f"/d/a/{i}.png", mask=f"/m/a/{i}.png", models={
            first: E.ModelScore(0, 0.9, 0, {"gradcam": method_score(a, energy=0.6)}),
            second: E.ModelScore(0, 0.9, 0, {"gradcam": method_score(b, energy=0.4)})})
            for i, (a, b) in enumerate(hits)]

    [vs_base] = E.compare_attention(scores("se_resnet50", "resnet50"),
                                    [entry("resnet50", "resnet50"), entry("se_resnet50", "se_resnet50")],
                                    ["gradcam"], resamples=300)
    [switch] = E.compare_switch(scores("se_resnet50", "se_resnet50 (attention off)"), SWITCHED, ["gradcam"],
                                resamples=300)
    p = switch["metrics"]["pointing_game"]
    assert vs_base["pointing_difference"] == p["difference"]
    assert (vs_base["pointing_model"], vs_base["pointing_baseline"]) == (p["with"], p["without"]) == (1.0, 0.25)
    assert (vs_base["only_model_hits"], vs_base["only_baseline_hits"]) == (
        switch["only_with_hits"], switch["only_without_hits"]) == (30, 0)
    assert vs_base["energy_difference"] == switch["metrics"]["energy_in_mask"]["difference"]
    assert vs_base["verdict"] == switch["verdict"] == "yes"
