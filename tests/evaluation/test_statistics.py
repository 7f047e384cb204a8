"""The statistics of the report against hand-computed cases (issue 20): exact McNemar, Newcombe's
paired interval, Wilcoxon with BCa, Holm, and the verdicts they allow."""

import math

import numpy as np
import pytest

from gcam_desktop import evaluation as E
from tests.evaluation.test_evaluate import ENTRIES, image, method_score


def hit_pairs(only_first, only_second, n):
    """n paired pointing-game results: `only_first` hit by the first alone, `only_second` by the
    second alone, the rest hit by both."""
    rows = []
    for i in range(n):
        a, b = (1.0, 0.0) if i < only_first else (0.0, 1.0) if i < only_first + only_second else (1.0, 1.0)
        rows.append((method_score(a), method_score(b)))
    return rows


def test_four_images_hit_only_by_se_out_of_twenty_is_not_a_yes():
    p = E.paired_metric(hit_pairs(4, 0, 20), "pointing_game")
    assert p["test"] == "exact McNemar" and p["discordant"] == 4
    assert p["p"] == pytest.approx(2 * 0.5 ** 4)  # 0.125: both tails of Binomial(4, 1/2) at 0 and 4
    assert p["difference"]["mean"] == pytest.approx(0.2)
    assert p["difference"]["lo"] < 0 < p["difference"]["hi"]  # the interval keeps its coverage: 0 is in it
    E.holm([p])
    assert E.verdict(p) == "not enough evidence (only 4 images disagree)"


def test_thirty_to_two_of_a_hundred_is_a_yes():
    p = E.paired_metric(hit_pairs(30, 2, 100), "pointing_game")
    by_hand = 2 * sum(math.comb(32, k) for k in range(3)) / 2 ** 32  # 2 P(X <= 2), X ~ Binomial(32, 1/2)
    assert p["p"] == pytest.approx(by_hand, rel=1e-9)
    E.holm([p])
    assert E.verdict(p) == "yes"
    worse = E.paired_metric(hit_pairs(2, 30, 100), "pointing_game")
    E.holm([worse])
    assert E.verdict(worse) == "no (less often)"


def test_the_fewest_disagreeing_images_that_can_decide_is_derived_not_guessed():
    # two-sided exact McNemar with every discordant image on one side: p = 2 / 2**k
    assert 2 / 2 ** 5 >= 0.05 > 2 / 2 ** 6
    assert E.fewest_decisive("exact McNemar") == 6
    assert E.fewest_decisive("Wilcoxon signed-rank") == 6  # the exact signed-rank test: the same 2 / 2**k
    assert E.fewest_decisive("exact McNemar", 0.01) == 8  # 2 / 2**8 < 0.01 <= 2 / 2**7


def test_newcombe_paired_interval_matches_the_published_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8, Cavo et al. (2012): -0.0621 (95 % CI -0.1186 to -0.0046),
    # as the contingencytables package's Newcombe_square_and_add_CI_paired_2x2 prints it.
    lo, hi = E.newcombe_paired([[59, 6], [16, 80]])
    assert (lo, hi) == pytest.approx((-0.1186, -0.0046), abs=1e-4)


def test_continuous_differences_use_wilcoxon_and_a_bca_interval():
    from scipy.stats import bootstrap, wilcoxon

    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.3, 0.9, 25), rng.uniform(0.2, 0.8, 25)
    pairs = [(method_score(1.0, energy=x), method_score(1.0, energy=y)) for x, y in zip(a, b)]
    p = E.paired_metric(pairs, "energy_in_mask", resamples=500, seed=3)
    assert p["test"] == "Wilcoxon signed-rank" and p["p"] == pytest.approx(wilcoxon(a - b).pvalue)
    ref = bootstrap((a - b,), np.mean, n_resamples=500, method="BCa",
                    rng=np.random.default_rng(3)).confidence_interval
    assert p["difference"]["method"] == "BCa"
    assert (p["difference"]["lo"], p["difference"]["hi"]) == pytest.approx((ref.low, ref.high))
    same = E.paired_metric([(method_score(1.0, energy=0.5),) * 2] * 8, "energy_in_mask")
    assert same["p"] == 1.0 and same["discordant"] == 0


def test_holm_adjusts_a_family_and_keeps_the_raw_p():
    tests = [{"p": 0.01}, {"p": 0.04}, {"p": 0.03}, {"p": None}]
    E.holm(tests)
    # by hand: sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 -> 0.06 (monotone)
    assert [t.get("p_holm") for t in tests] == pytest.approx([0.03, 0.06, 0.06, None])
    assert [t["p"] for t in tests] == [0.01, 0.04, 0.03, None]


@pytest.mark.slow
def test_a_result_that_does_not_survive_holm_is_not_a_yes():
    p = E.paired_metric(hit_pairs(7, 0, 30), "pointing_game")  # p = 2 / 2**7 = 0.0156
    assert p["p"] == pytest.approx(0.015625)
    family = [p, {"p": 0.2}, {"p": 0.5}, {"p": 0.9}]
    E.holm(family)
    assert p["p_holm"] == pytest.approx(4 * 0.015625)
    assert E.verdict(p) == "no clear difference"


def test_the_answer_prints_the_test_and_both_p_values():
    scores = [image(i, {"resnet50": float(i >= 4), "se_resnet50": 1.0}) for i in range(20)]
    [c] = E.compare_attention(scores, ENTRIES, ["gradcam"])
    assert c["verdict"] == "not enough evidence (only 4 images disagree)"
    assert c["pointing_test"]["p"] == pytest.approx(0.125) and c["pointing_test"]["p_holm"] == pytest.approx(0.25)
    # 4 equal energy differences among 16 zeros: the exact (permutation) signed-rank p, not the
    # normal approximation's 0.046, which would claim more than 4 images can show
    assert c["energy_test"]["p"] == pytest.approx(0.125)
    text = E.answer_text([c], ENTRIES, scores)
    assert "exact McNemar p = 0.125, Holm-adjusted 0.25" in text and "**yes**" not in text
    assert "fewer than 6 such images" in text


# ------------------------------------------------------------------------------------ baselines

def with_baseline(i, method_hit, edge_hit, method_del=0.2, edge_del=0.4):
    """One image: the model's gradcam map and the Sobel baseline's, with their pointing and deletion."""
    return E.ImageScore(path=f"/d/a/{i}.png", mask=f"/m/a/{i}.png", models={"resnet50": E.ModelScore(0, 0.9, 0, {
        "gradcam": method_score(method_hit, dele=method_del),
        "baseline:edges": method_score(edge_hit, dele=edge_del)})})


@pytest.mark.slow
def test_a_method_that_beats_the_edges_says_so_and_one_that_does_not_is_named():
    good = [with_baseline(i, 1.0, float(i < 10), 0.2 - 0.001 * i, 0.4) for i in range(40)]
    [row] = E.compare_baselines(good, ENTRIES[:1], ["gradcam"], ["edges"], resamples=200)
    assert row["metrics"]["pointing_game"]["verdict"] == "beats it"
    assert row["metrics"]["deletion_auc"]["verdict"] == "beats it"  # lower is better: it beats
    assert row["metrics"]["pointing_game"]["p_holm"] >= row["metrics"]["pointing_game"]["p"]
    assert E.edge_statements([row], {}) == []
    bad = [with_baseline(i, float(i < 10), 1.0, 0.5, 0.4) for i in range(40)]
    [row] = E.compare_baselines(bad, ENTRIES[:1], ["gradcam"], ["edges"], resamples=200)
    assert row["metrics"]["pointing_game"]["verdict"] == "worse than it"
    [words] = E.edge_statements([row], {"pointing_game": "pointing game", "deletion_auc": "deletion AUC"})
    assert words.startswith("gradcam on resnet50 does not beat the Sobel edge map on pointing game or deletion AUC")
    assert "exact McNemar p = " in words and "Holm-adjusted" in words


def test_the_baselines_family_is_holm_corrected_across_models_methods_and_metrics():
    few = [with_baseline(i, 1.0, float(i >= 7), 0.2, 0.2) for i in range(30)]  # 7 discordant: p = 0.0156
    [row] = E.compare_baselines(few, ENTRIES[:1], ["gradcam"], ["edges"], resamples=200)
    p = row["metrics"]["pointing_game"]
    assert p["p"] == pytest.approx(0.015625)
    assert p["p_holm"] > 0.05 and p["verdict"] == "no clear difference"  # alone it would have been "beats it"
    assert "deletion_auc" in row["metrics"] and row["metrics"]["deletion_auc"]["discordant"] == 0


def test_the_not_enough_evidence_wording_counts_the_disagreeing_images_in_words():
    base = {"images": 20, "test": "exact McNemar", "p": 1.0, "p_holm": 1.0, "direction": 0}
    assert E.verdict({**base, "discordant": 0}) == "not enough evidence (no image disagrees)"
    assert E.verdict({**base, "discordant": 1}) == "not enough evidence (only 1 image disagrees)"
