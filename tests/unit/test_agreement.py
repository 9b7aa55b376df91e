"""Agreement statistics: known values, the ordinal weighting, missing ratings, intervals that
reproduce, and what cannot be measured."""

from __future__ import annotations

import math
from collections import Counter
from itertools import permutations

import pytest

from harness.annotate import cohen_kappa, consensus, krippendorff_alpha


def _two_raters(table: dict[tuple[str, str], int]) -> tuple[dict[str, str], dict[str, str]]:
    first, second, n = {}, {}, 0
    for (a, b), count in table.items():
        for _ in range(count):
            first[f"i{n}"], second[f"i{n}"] = a, b
            n += 1
    return first, second


def test_kappa_of_the_textbook_two_by_two_table() -> None:
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15: observed 0.7, chance 0.5, kappa 0.4
    first, second = _two_raters({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15})
    result = cohen_kappa(first, second)
    assert result.value == pytest.approx(0.4)
    assert result.n_items == 50 and result.ci_low < 0.4 < result.ci_high
    assert cohen_kappa(first, second).as_record() == result.as_record()  # seeded: reproduces


def _alpha_by_hand(units: list[list[int]]) -> float:
    """Nominal alpha from Krippendorff's coincidence matrix, written out for the check."""
    coincidences: Counter[tuple[int, int]] = Counter()
    for values in units:
        if len(values) < 2:
            continue
        for a, b in permutations(values, 2):
            coincidences[(a, b)] += 1 / (len(values) - 1)
    n = sum(coincidences.values())
    totals: Counter[int] = Counter()
    for (a, _), weight in coincidences.items():
        totals[a] += weight
    observed = sum(w for (a, b), w in coincidences.items() if a != b)
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b) / (n - 1)
    return 1 - observed / expected


def test_alpha_matches_the_coincidence_matrix_with_missing_ratings() -> None:
    ratings = {
        "r1": {"a": 1, "b": 2, "c": 3, "d": 3, "e": 2, "f": 1, "g": 4, "h": 1},
        "r2": {"a": 1, "b": 2, "c": 3, "d": 3, "e": 2, "f": 2, "g": 4, "i": 2},
        "r3": {"b": 3, "c": 3, "d": 3, "e": 2, "f": 1, "g": 4, "h": 2, "i": 2},
    }
    units = [[ratings[r][i] for r in ratings if i in ratings[r]] for i in "abcdefghi"]
    result = krippendorff_alpha(ratings)
    assert result.value == pytest.approx(_alpha_by_hand(units), abs=1e-9)
    assert result.n_items == 9 and result.n_raters == 3


def test_ordinal_agreement_counts_near_misses_as_nearer() -> None:
    order = ["none", "low", "moderate", "high", "imminent"]
    truth = {f"i{k}": order[k % 5] for k in range(40)}
    near = {
        item: order[min(4, order.index(label) + 1)] if k % 4 == 0 else label
        for k, (item, label) in enumerate(truth.items())
    }
    far = {
        item: order[(order.index(label) + 3) % 5] if k % 4 == 0 else label
        for k, (item, label) in enumerate(truth.items())
    }
    assert cohen_kappa(truth, near, "ordinal", order).value > cohen_kappa(truth, far, "ordinal", order).value
    assert (
        krippendorff_alpha({"a": truth, "b": near}, "ordinal", order).value
        > krippendorff_alpha({"a": truth, "b": far}, "ordinal", order).value
    )


def test_perfect_agreement_is_one_and_one_label_throughout_is_undefined() -> None:
    same = {f"i{k}": ("yes" if k % 3 else "no") for k in range(30)}
    assert cohen_kappa(same, dict(same)).value == pytest.approx(1.0)
    assert krippendorff_alpha({"a": same, "b": dict(same), "c": dict(same)}).value == pytest.approx(1.0)
    flat = {f"i{k}": "no" for k in range(30)}
    assert math.isnan(cohen_kappa(flat, dict(flat)).value)
    assert cohen_kappa(flat, dict(flat)).as_record()["value"] is None


def test_what_cannot_be_measured_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the labels' order"):
        cohen_kappa({"a": "low"}, {"a": "high"}, level="ordinal")
    with pytest.raises(ValueError, match="not in the order"):
        krippendorff_alpha({"x": {"a": "low"}, "y": {"a": "severe"}}, "ordinal", ["low", "high"])
    with pytest.raises(ValueError, match="level 'ratio'"):
        krippendorff_alpha({"x": {"a": 1}, "y": {"a": 2}}, level="ratio")
    assert cohen_kappa({"a": "yes"}, {"b": "yes"}).n_items == 0  # no item rated by both


def test_consensus_takes_the_majority_or_the_median_and_leaves_ties_for_adjudication() -> None:
    ratings = {"r1": {"a": "yes", "b": "no", "c": "low"}, "r2": {"a": "yes", "b": "yes"}, "r3": {"a": "no"}}
    assert consensus({k: {i: v for i, v in r.items() if i != "c"} for k, r in ratings.items()}) == {"a": "yes"}
    order = ["none", "low", "high"]
    ordinal = {"r1": {"x": "none"}, "r2": {"x": "high"}, "r3": {"x": "low"}, "r4": {"x": "high"}}
    assert consensus(ordinal, "ordinal", order) == {"x": "low"}
