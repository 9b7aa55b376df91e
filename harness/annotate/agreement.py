"""Chance-corrected agreement with bootstrap intervals: Cohen's kappa for two raters (a scorer
counts as a rater) and Krippendorff's alpha for any number of raters with missing ratings.

Ratings are ``{rater: {item: label}}``. Labels are nominal (any hashable) or ordinal (``order``
lists them from lowest to highest; for kappa the disagreement is then weighted linearly). Kappa
comes from scikit-learn's ``cohen_kappa_score`` and alpha from the ``krippendorff`` package; this
module only arranges the ratings, resamples the items (percentile bootstrap, seeded: a report
reproduces exactly) and refuses what cannot be measured.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVELS: tuple[str, ...] = ("nominal", "ordinal")
Ratings = Mapping[str, Mapping[str, Hashable]]


@dataclass(frozen=True)
class Agreement:
    statistic: str  # cohen_kappa | krippendorff_alpha
    level: str  # nominal | ordinal
    value: float
    ci_low: float
    ci_high: float
    n_items: int  # items rated by at least two of the raters
    n_raters: int

    def as_record(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "level": self.level,
            "value": _rounded(self.value),
            "ci_low": _rounded(self.ci_low),
            "ci_high": _rounded(self.ci_high),
            "ci_method": "percentile bootstrap over items",
            "n_items": self.n_items,
            "n_raters": self.n_raters,
        }


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _codes(labels: set[Hashable], level: str, order: Sequence[Hashable] | None) -> dict[Hashable, int]:
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: choose one of {', '.join(LEVELS)}")
    if level == "ordinal":
        if order is None:
            raise ValueError("ordinal agreement needs the labels' order, lowest first")
        unknown = labels - set(order)
        if unknown:
            raise ValueError(f"labels {sorted(map(str, unknown))} are not in the order {list(order)}")
        return {label: rank for rank, label in enumerate(order)}
    return {label: code for code, label in enumerate(sorted(labels, key=str))}


def _interval(statistic: Any, n_items: int, iterations: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(iterations):
        value = statistic(rng.integers(0, n_items, size=n_items))
        if not math.isnan(value):
            values.append(value)
    if len(values) < iterations / 2:  # most resamples undefined (e.g. one label only): no interval
        return (math.nan, math.nan)
    return (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))


def cohen_kappa(
    first: Mapping[str, Hashable],
    second: Mapping[str, Hashable],
    level: str = "nominal",
    order: Sequence[Hashable] | None = None,
    iterations: int = 1000,
    seed: int = 0,
) -> Agreement:
    """Kappa of two raters on the items both rated (linear weights for ordinal labels)."""
    from sklearn.metrics import cohen_kappa_score

    items = sorted(set(first) & set(second))
    codes = _codes({first[i] for i in items} | {second[i] for i in items}, level, order)
    a = np.array([codes[first[i]] for i in items])
    b = np.array([codes[second[i]] for i in items])
    weights = "linear" if level == "ordinal" else None

    def kappa(index: Any) -> float:
        x, y = a[index], b[index]
        if len(set(x.tolist()) | set(y.tolist())) < 2:
            return math.nan  # one label throughout: chance agreement is 1, kappa undefined
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(cohen_kappa_score(x, y, labels=sorted(set(codes.values())), weights=weights))

    if not items:
        return Agreement("cohen_kappa", level, math.nan, math.nan, math.nan, 0, 2)
    value = kappa(np.arange(len(items)))
    low, high = _interval(kappa, len(items), iterations, seed)
    return Agreement("cohen_kappa", level, value, low, high, len(items), 2)


def krippendorff_alpha(
    ratings: Ratings,
    level: str = "nominal",
    order: Sequence[Hashable] | None = None,
    iterations: int = 1000,
    seed: int = 0,
) -> Agreement:
    """Alpha of any number of raters; an item counts when at least two raters rated it."""
    import krippendorff

    raters = sorted(ratings)
    items = sorted({item for by_item in ratings.values() for item in by_item})
    items = [i for i in items if sum(i in ratings[r] for r in raters) >= 2]
    codes = _codes({ratings[r][i] for r in raters for i in items if i in ratings[r]}, level, order)
    matrix = np.full((len(raters), len(items)), np.nan)
    for row, rater in enumerate(raters):
        for column, item in enumerate(items):
            if item in ratings[rater]:
                matrix[row, column] = codes[ratings[rater][item]]
    domain = sorted(set(codes.values()))

    def alpha(index: Any) -> float:
        data = matrix[:, index]
        present = data[~np.isnan(data)]
        if len(set(present.tolist())) < 2:
            return math.nan  # one value throughout: no expected disagreement, alpha undefined
        return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain))

    if not items:
        return Agreement("krippendorff_alpha", level, math.nan, math.nan, math.nan, 0, len(raters))
    value = alpha(np.arange(len(items)))
    low, high = _interval(alpha, len(items), iterations, seed)
    return Agreement("krippendorff_alpha", level, value, low, high, len(items), len(raters))


def consensus(ratings: Ratings, level: str = "nominal", order: Sequence[Hashable] | None = None) -> dict[str, Hashable]:
    """Each item's consensus label: the most common (nominal; ties left out: adjudicate them) or
    the median rank (ordinal; the lower middle on an even count)."""
    by_item: dict[str, list[Hashable]] = {}
    for by_rater_item in ratings.values():
        for item, label in by_rater_item.items():
            by_item.setdefault(item, []).append(label)
    out: dict[str, Hashable] = {}
    for item, labels in sorted(by_item.items()):
        if level == "ordinal":
            codes = _codes(set(labels), level, order)
            ranked = sorted(labels, key=codes.__getitem__)
            out[item] = ranked[(len(ranked) - 1) // 2]
            continue
        counts = Counter(labels).most_common()
        if len(counts) == 1 or counts[0][1] > counts[1][1]:
            out[item] = counts[0][0]
    return out
