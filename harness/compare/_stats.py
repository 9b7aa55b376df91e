"""Tests and intervals for two runs scored on the same items.

Everything here works on per-item differences (B minus A). Pairing is what makes a comparison
of two models on one benchmark sensitive: item difficulty varies far more than the models do,
and that variation is shared by both runs, so it cancels in the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BOOTSTRAP_ITERATIONS = 2000
PERMUTATION_ITERATIONS = 10_000
# 2**16 sign patterns enumerate in a few milliseconds; past that a seeded sample is used.
EXACT_PERMUTATION_MAX_N = 16
# Resampling is done in blocks of about this many numbers to keep memory flat for large n.
_BLOCK_CELLS = 1_000_000

Values = Sequence[float] | NDArray[np.float64]


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs of two binary runs and the exact two-sided p-value."""

    a_only: int  # items A got right and B got wrong
    b_only: int  # items B got right and A got wrong
    p_value: float


def paired_differences(a: Values, b: Values) -> NDArray[np.float64]:
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired values need two 1-d sequences of one length, got {first.shape} and {second.shape}")
    return second - first


def paired_bootstrap_ci(
    a: Values, b: Values, iterations: int = BOOTSTRAP_ITERATIONS, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(B - A), resampling items (pairs) with replacement."""
    differences = paired_differences(a, b)
    n = differences.size
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(iterations)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, iterations, block):
        stop = min(iterations, start + block)
        means[start:stop] = differences[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - level) / 2
    return (float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def exact_sign_test(n_positive: int, n_negative: int) -> float:
    """Two-sided exact binomial test that positive and negative differences are equally likely
    (ties already removed). The null distribution is symmetric, so doubling one tail is exact."""
    from scipy.stats import binom

    n = n_positive + n_negative
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(n_positive, n_negative), n, 0.5)))


def exact_mcnemar(a: Values, b: Values) -> McNemarResult:
    """Exact McNemar test for 0/1 items: only discordant pairs carry information, and under no
    difference each one is equally likely to favour either run (a sign test on them)."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    paired_differences(first, second)
    if not np.all(np.isin(first, (0.0, 1.0)) & np.isin(second, (0.0, 1.0))):
        raise ValueError("exact McNemar needs 0/1 values; use the paired permutation test for scores")
    a_only = int(np.sum((first == 1) & (second == 0)))
    b_only = int(np.sum((first == 0) & (second == 1)))
    return McNemarResult(a_only, b_only, exact_sign_test(b_only, a_only))


def paired_permutation_test(
    a: Values,
    b: Values,
    iterations: int = PERMUTATION_ITERATIONS,
    seed: int = 0,
    exact_max_n: int = EXACT_PERMUTATION_MAX_N,
) -> float:
    """Two-sided sign-flip test of mean(B - A) = 0: under no difference, swapping an item's two
    scores is as likely as not. Exact (all 2**k flips) when k non-zero differences <= exact_max_n,
    otherwise a seeded Monte Carlo estimate with the (count + 1) / (iterations + 1) correction
    so that p is never 0."""
    differences = paired_differences(a, b)
    nonzero = differences[differences != 0]  # a zero difference flips to itself
    k = nonzero.size
    if k == 0:
        return 1.0
    observed = abs(float(nonzero.sum()))
    threshold = observed - 1e-9 * max(1.0, observed)  # equal sums must not split on rounding
    if k <= exact_max_n:
        patterns = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
        sums = (2.0 * patterns - 1.0) @ nonzero
        return float(np.mean(np.abs(sums) >= threshold))
    rng = np.random.default_rng(seed)
    at_least_as_extreme = 0
    block = max(1, _BLOCK_CELLS // k)
    for start in range(0, iterations, block):
        rows = min(block, iterations - start)
        signs = 2.0 * rng.integers(0, 2, size=(rows, k)) - 1.0
        at_least_as_extreme += int(np.count_nonzero(np.abs(signs @ nonzero) >= threshold))
    return (at_least_as_extreme + 1) / (iterations + 1)


def wilcoxon_signed_rank(a: Values, b: Values) -> float:
    """Two-sided Wilcoxon signed-rank p-value of B - A, zero differences dropped (Wilcoxon's
    convention). scipy picks the method deterministically: exact without ties for n <= 50,
    exact enumeration with ties for n <= 13, else the normal approximation with tie correction."""
    from scipy.stats import wilcoxon

    differences = paired_differences(a, b)
    if not np.any(differences != 0):
        return 1.0  # no evidence of any difference; scipy would divide by zero here
    return float(wilcoxon(differences, zero_method="wilcox", method="auto").pvalue)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control, no independence assumed).
    The i-th smallest p is multiplied by (m - i), and adjusted values are made non-decreasing
    in that order, so rejecting 'adjusted p < alpha' is exactly Holm's procedure."""
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {p!r}")
    m = len(p_values)
    adjusted = [0.0] * m
    running_max = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running_max = max(running_max, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running_max
    return adjusted
