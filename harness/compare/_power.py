"""How large a difference a paired comparison of n items can be expected to detect.

Approximation: a two-sided z-test on the mean paired difference, whose standard error is
sd(B - A) / sqrt(n). The minimum detectable difference at power 1 - beta is then
(z_{1 - alpha/2} + z_{1 - beta}) * sd / sqrt(n). For 0/1 items sd(B - A)^2 = discordance rate -
difference^2, so a pair of runs that rarely disagree can detect small differences with few items.
The exact McNemar and permutation tests are a little less powerful than the z-test at small n,
so there the difference they can really detect is somewhat larger than this figure.
"""

from __future__ import annotations

import math
from statistics import NormalDist

TARGET_POWER = 0.8
_NORMAL = NormalDist()


def minimum_detectable_difference(
    n: int, sd_difference: float, alpha: float = 0.05, power: float = TARGET_POWER
) -> float:
    if n <= 0:
        return math.inf
    return (_NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)) * sd_difference / math.sqrt(n)


def paired_power(n: int, difference: float, sd_difference: float, alpha: float = 0.05) -> float:
    """Probability that the paired test rejects when the true mean difference is ``difference``
    (the far tail, which is negligible for any useful power, is ignored)."""
    if n <= 0:
        return 0.0
    if sd_difference <= 0:
        return 1.0 if difference != 0 else alpha
    shift = abs(difference) * math.sqrt(n) / sd_difference
    return _NORMAL.cdf(shift - _NORMAL.inv_cdf(1 - alpha / 2))


def pairs_needed(difference: float, sd_difference: float, alpha: float = 0.05, power: float = TARGET_POWER) -> int:
    """Paired items needed to detect ``difference`` with the given power."""
    if difference == 0:
        raise ValueError("a difference of 0 cannot be detected by any number of items; give a positive margin")
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    return max(2, math.ceil((z * sd_difference / abs(difference)) ** 2))


def planning_sd(differences_sd: float, n: int) -> float:
    """The sd used for the power warning. Two runs that never disagree on n items have an
    observed sd of 0, which would claim any difference is detectable; the discordance rate is
    then taken at the upper end of what n items can rule out (3/n, the 'rule of three' 95% bound),
    giving sd = sqrt(3/n). Applies to metrics on a 0-1 scale, which all of the suite's are."""
    if n <= 0:
        return math.nan
    return max(differences_sd, math.sqrt(3.0 / n))


def underpowered_warning(
    n: int, sd_difference: float, margin: float, alpha: float = 0.05, power: float = TARGET_POWER
) -> str | None:
    """A sentence for the report when n items cannot detect a difference of ``margin``."""
    detectable = minimum_detectable_difference(n, sd_difference, alpha, power)
    if detectable <= margin:
        return None
    needed = pairs_needed(margin, sd_difference, alpha, power)
    return (
        f"n={n} cannot detect a difference of {margin:g} at {power:.0%} power "
        f"(detectable: {detectable:.3f}; about {needed} paired items needed; normal approximation)"
    )
