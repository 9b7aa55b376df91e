"""Uncertainty for reported metrics: every number leaves with its n and a 95% interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    n: int
    ci_low: float
    ci_high: float
    method: str

    def as_record(self) -> dict[str, float | int | str]:
        return {
            "value": self.value,
            "n": self.n,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_method": self.method,
        }


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; well behaved at 0 and 1 and for small n."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Rounding can put a bound a hair past p at the extremes (p = 0 or 1); clamp it.
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def bootstrap_mean_interval(
    values: Sequence[float], iterations: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so a run record reproduces exactly)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(iterations, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    return (float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def estimate_mean(values: Sequence[float], seed: int = 0) -> Estimate:
    """Mean with a 95% interval: Wilson for 0/1 data, percentile bootstrap otherwise."""
    data = [float(v) for v in values]
    n = len(data)
    if n == 0:
        return Estimate(math.nan, 0, math.nan, math.nan, "none")
    mean = sum(data) / n
    if all(v in (0.0, 1.0) for v in data):
        low, high = wilson_interval(sum(data), n)
        return Estimate(mean, n, low, high, "wilson")
    low, high = bootstrap_mean_interval(data, seed=seed)
    return Estimate(mean, n, low, high, "bootstrap")


def cohen_kappa(first: Sequence[bool], second: Sequence[bool]) -> float:
    """Chance-corrected agreement of two binary raters on the same items (nan when undefined)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} ratings against {len(second)}")
    n = len(first)
    if n == 0:
        return math.nan
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    p_first, p_second = sum(first) / n, sum(second) / n
    expected = p_first * p_second + (1 - p_first) * (1 - p_second)
    return (observed - expected) / (1 - expected) if expected < 1 else math.nan
