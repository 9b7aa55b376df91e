"""Paired statistics against scipy, brute-force enumeration and hand-worked references."""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm, permutation_test, rankdata

from harness.compare import (
    exact_mcnemar,
    exact_sign_test,
    holm_adjust,
    minimum_detectable_difference,
    paired_bootstrap_ci,
    paired_permutation_test,
    paired_power,
    pairs_needed,
    planning_sd,
    underpowered_warning,
    wilcoxon_signed_rank,
)


def binary_runs(a_only: int, b_only: int, both: int = 7, neither: int = 5) -> tuple[list[float], list[float]]:
    a = [1.0] * a_only + [0.0] * b_only + [1.0] * both + [0.0] * neither
    b = [0.0] * a_only + [1.0] * b_only + [1.0] * both + [0.0] * neither
    return a, b


@pytest.mark.parametrize(("a_only", "b_only"), [(3, 0), (5, 9), (12, 0), (20, 31), (1, 1), (0, 7)])
def test_exact_mcnemar_matches_binomial_test_on_discordant_pairs(a_only: int, b_only: int) -> None:
    result = exact_mcnemar(*binary_runs(a_only, b_only))
    assert (result.a_only, result.b_only) == (a_only, b_only)
    assert result.p_value == pytest.approx(binomtest(b_only, a_only + b_only, 0.5).pvalue, rel=1e-12)


def test_concordant_items_do_not_change_mcnemar() -> None:
    few = exact_mcnemar(*binary_runs(4, 11, both=0, neither=0))
    many = exact_mcnemar(*binary_runs(4, 11, both=500, neither=300))
    assert few.p_value == many.p_value


def test_no_discordant_pairs_is_no_evidence() -> None:
    assert exact_sign_test(0, 0) == 1.0
    assert exact_mcnemar([1, 0, 1], [1, 0, 1]).p_value == 1.0


def test_mcnemar_refuses_scores_that_are_not_zero_or_one() -> None:
    with pytest.raises(ValueError, match="0/1"):
        exact_mcnemar([0.5, 1.0], [1.0, 1.0])


CONTINUOUS_A = [0.20, 0.55, 0.10, 0.70, 0.40, 0.35, 0.90, 0.15, 0.60, 0.50]
CONTINUOUS_B = [0.45, 0.60, 0.10, 0.95, 0.30, 0.60, 0.95, 0.40, 0.65, 0.75]  # one tie at 0, repeated gaps


def test_exact_permutation_test_matches_scipy_enumeration() -> None:
    reference = permutation_test(
        (np.array(CONTINUOUS_B), np.array(CONTINUOUS_A)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    assert paired_permutation_test(CONTINUOUS_A, CONTINUOUS_B) == pytest.approx(reference.pvalue, rel=1e-9)


def test_sampled_permutation_test_is_seeded_and_close_to_exact() -> None:
    exact = paired_permutation_test(CONTINUOUS_A, CONTINUOUS_B)
    sampled = paired_permutation_test(CONTINUOUS_A, CONTINUOUS_B, exact_max_n=0, seed=3)
    assert sampled == paired_permutation_test(CONTINUOUS_A, CONTINUOUS_B, exact_max_n=0, seed=3)
    assert sampled == pytest.approx(exact, abs=0.02)  # 10,000 draws: sd of the estimate < 0.005


def test_sampled_permutation_p_is_never_zero() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 0.5, size=300)
    p = paired_permutation_test(a, a + 0.3)
    assert p == pytest.approx(1 / 10_001)


def test_wilcoxon_with_ties_and_a_zero_matches_brute_force_enumeration() -> None:
    differences = np.array([0.1, -0.2, 0.3, 0.3, 0.0, 0.5, 0.2, -0.1, 0.2])
    nonzero = differences[differences != 0]
    ranks = rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum() - ranks.sum() / 2
    outcomes = [
        ranks[np.array(signs, dtype=bool)].sum() - ranks.sum() / 2 for signs in itertools.product([0, 1], repeat=8)
    ]
    expected = np.mean(np.abs(outcomes) >= abs(observed) - 1e-9)
    assert wilcoxon_signed_rank(np.zeros(9), differences) == pytest.approx(expected)


def test_wilcoxon_all_positive_differences_by_hand() -> None:
    # Eight positive differences: rank sum 36 is reached by 1 of 2**8 sign patterns, 0 by 1 more.
    assert wilcoxon_signed_rank([0.0] * 8, [1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(2 / 256)


def test_identical_runs_give_p_one_everywhere() -> None:
    same = [0.3, 0.7, 0.1]
    assert paired_permutation_test(same, same) == 1.0
    assert wilcoxon_signed_rank(same, same) == 1.0
    assert paired_bootstrap_ci(same, same) == (0.0, 0.0)


def test_bootstrap_ci_is_seeded_and_agrees_with_the_normal_interval_for_large_n() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, size=400)
    b = a + rng.normal(0.1, 0.2, size=400)
    low, high = paired_bootstrap_ci(a, b, seed=5)
    assert (low, high) == paired_bootstrap_ci(a, b, seed=5)
    differences = b - a
    half_width = 1.959964 * differences.std(ddof=1) / math.sqrt(differences.size)
    assert low == pytest.approx(differences.mean() - half_width, abs=0.006)
    assert high == pytest.approx(differences.mean() + half_width, abs=0.006)


def test_bootstrap_of_no_items_is_nan() -> None:
    low, high = paired_bootstrap_ci([], [])
    assert math.isnan(low) and math.isnan(high)


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        paired_permutation_test([1.0, 0.0], [1.0])


def test_holm_against_a_hand_worked_example() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06 (monotone).
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # At alpha 0.05 Holm rejects the two smallest and stops at the third.
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]


def test_holm_caps_at_one_and_handles_small_families() -> None:
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]
    assert holm_adjust([0.02]) == [0.02]
    assert holm_adjust([]) == []
    with pytest.raises(ValueError):
        holm_adjust([1.5])


def test_minimum_detectable_difference_by_hand() -> None:
    # (z_0.975 + z_0.8) * sd / sqrt(n) = (1.959964 + 0.841621) * 0.5 / sqrt(40) = 0.22148
    assert minimum_detectable_difference(40, 0.5) == pytest.approx(0.22148, abs=1e-5)
    assert paired_power(40, minimum_detectable_difference(40, 0.5), 0.5) == pytest.approx(0.8, abs=1e-9)
    # (2.801585 * 0.5 / 0.05)**2 = 784.89 -> 785 pairs
    assert pairs_needed(0.05, 0.5) == 785


def test_underpowered_warning_names_n_margin_and_power() -> None:
    warning = underpowered_warning(40, 0.5, margin=0.05)
    assert warning is not None
    assert warning.startswith("n=40 cannot detect a difference of 0.05 at 80% power")
    assert "785" in warning
    assert underpowered_warning(2000, 0.5, margin=0.05) is None


def test_runs_that_never_disagree_still_get_an_honest_power_figure() -> None:
    # Zero observed spread on 40 items: the discordance rate is taken at 3/40, its 95% upper bound.
    assert planning_sd(0.0, 40) == pytest.approx(math.sqrt(3 / 40))
    assert planning_sd(0.4, 40) == 0.4


def lm_eval_style_unpaired_p(a: list[float], b: list[float]) -> float:
    """Two runs compared as independent samples: z = (mean B - mean A) / sqrt(se_A^2 + se_B^2),
    each se from its own run alone (what lm-eval's model comparator does)."""
    se_a = np.std(a, ddof=1) / math.sqrt(len(a))
    se_b = np.std(b, ddof=1) / math.sqrt(len(b))
    z = (np.mean(b) - np.mean(a)) / math.sqrt(se_a**2 + se_b**2)
    return float(2 * norm.sf(abs(z)))


def test_paired_test_finds_a_difference_the_unpaired_test_misses() -> None:
    # 200 items. A answers items 0-99 correctly; B answers 0-111 correctly: B fixes 12 items A
    # gets wrong and breaks none. Accuracy 0.50 vs 0.56.
    a = [1.0] * 100 + [0.0] * 100
    b = [1.0] * 112 + [0.0] * 88
    unpaired = lm_eval_style_unpaired_p(a, b)
    paired = exact_mcnemar(a, b)
    # Unpaired: se 0.0499 for a 0.06 gap, z = 1.20, p = 0.230: "no difference".
    assert unpaired == pytest.approx(0.2296, abs=1e-3)
    # Paired: 12 discordant items, all in B's favour: p = 2 * 0.5**12 = 0.00049.
    assert (paired.a_only, paired.b_only) == (0, 12)
    assert paired.p_value == pytest.approx(2 * 0.5**12)
    low, high = paired_bootstrap_ci(a, b)
    assert 0 < low < high  # the paired interval excludes "no difference" too
    # The paired test is right here: both runs see the same items, and most of the spread the
    # unpaired test counts as noise is item difficulty (items 112-199 are hard for both, 0-99
    # easy for both), which is shared and cancels in the per-item difference. What is left is
    # 12 changes all in one direction, which chance alone would produce 1 time in 2,048.
