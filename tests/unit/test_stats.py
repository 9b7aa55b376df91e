import math

import pytest
from scipy.stats import binomtest

from harness.stats import bootstrap_mean_interval, estimate_mean, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 10), (10, 10), (57, 612), (1, 1)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


def test_binary_values_use_wilson_and_keep_n() -> None:
    estimate = estimate_mean([1, 0, 0, 1, 1])
    assert estimate.method == "wilson"
    assert estimate.n == 5
    assert estimate.value == pytest.approx(0.6)
    assert estimate.ci_low < 0.6 < estimate.ci_high


def test_continuous_values_use_seeded_bootstrap() -> None:
    values = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2]
    first = estimate_mean(values, seed=7)
    again = estimate_mean(values, seed=7)
    assert first.method == "bootstrap"
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.ci_low < first.value < first.ci_high


def test_bootstrap_interval_narrows_with_more_data() -> None:
    small = bootstrap_mean_interval([0.0, 1.0] * 5 + [0.5])
    large = bootstrap_mean_interval([0.0, 1.0] * 500 + [0.5])
    assert (large[1] - large[0]) < (small[1] - small[0])


def test_empty_input_gives_nan_not_a_number_that_looks_real() -> None:
    estimate = estimate_mean([])
    assert estimate.n == 0
    assert math.isnan(estimate.value)
