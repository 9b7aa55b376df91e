"""Metric functions of the DSM-5 consistency task on hand-made cases with known answers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from harness.dsm5 import (
    MetricResult,
    accuracy,
    generate_items,
    invariance,
    invariance_correct,
    load_criteria,
    minimal_pair_consistency,
    positive_predictive_value,
    sensitivity,
    specificity,
)

Record = dict[str, Any]


def yes_no(gold: bool, predicted: bool | None) -> Record:
    return {"meets_criteria": gold, "predicted_meets": predicted}


# Two true positives, one false negative, one false positive, three true negatives.
CONFUSION = [yes_no(True, True)] * 2 + [yes_no(True, False)] + [yes_no(False, True)] + [yes_no(False, False)] * 3

CASES: list[tuple[str, Callable[[Sequence[Record]], MetricResult], list[Record], float, int]] = [
    (
        "accuracy",
        accuracy,
        [
            {"gold_label": "panic", "predicted_label": "panic"},
            {"gold_label": "none", "predicted_label": "none"},
            {"gold_label": "ptsd", "predicted_label": "acute_stress"},
            {"gold_label": "ocd", "predicted_label": "ocd"},
        ],
        0.75,
        4,
    ),
    (
        "accuracy_unparsed_is_wrong",
        accuracy,
        [{"gold_label": "none", "predicted_label": None}, {"gold_label": "none", "predicted_label": "none"}],
        0.5,
        2,
    ),
    ("sensitivity", sensitivity, CONFUSION, 2 / 3, 3),
    ("positive_predictive_value", positive_predictive_value, CONFUSION, 2 / 3, 3),
    ("specificity", specificity, CONFUSION, 3 / 4, 4),
    ("specificity_of_always_yes", specificity, [yes_no(False, True)] * 5 + [yes_no(True, True)], 0.0, 5),
    ("ppv_of_always_yes", positive_predictive_value, [yes_no(False, True)] * 3 + [yes_no(True, True)], 0.25, 4),
]


@pytest.mark.parametrize(("name", "metric", "records", "value", "n"), CASES, ids=[c[0] for c in CASES])
def test_metric_on_hand_made_case(
    name: str, metric: Callable[[Sequence[Record]], MetricResult], records: list[Record], value: float, n: int
) -> None:
    result = metric(records)
    assert result.value == pytest.approx(value)
    assert result.n == n
    assert result.stderr == pytest.approx(math.sqrt(value * (1 - value) / n))


@pytest.mark.parametrize(
    "metric", [accuracy, sensitivity, positive_predictive_value, specificity, minimal_pair_consistency, invariance]
)
def test_no_data_gives_nan_and_zero_n(metric: Callable[[Sequence[Record]], MetricResult]) -> None:
    result = metric([])
    assert result.n == 0 and math.isnan(result.value) and math.isnan(result.stderr)


def test_sensitivity_without_gold_positives_is_nan_not_zero() -> None:
    result = sensitivity([yes_no(False, False), yes_no(False, True)])
    assert result.n == 0 and math.isnan(result.value)


def test_unparsed_yes_no_answer_is_an_error_naming_the_record() -> None:
    with pytest.raises(ValueError, match="record 1: 'predicted_meets' is None"):
        sensitivity([yes_no(True, True), yes_no(True, None)])


def pair_record(pair_ids: list[str], gold: bool, predicted: bool, item_id: str) -> Record:
    return {"item_id": item_id, "pair_ids": pair_ids, "meets_criteria": gold, "predicted_meets": predicted}


def test_minimal_pair_consistency_counts_pairs_answered_as_required() -> None:
    records = [
        # One positive anchors two pairs; the model says yes to it.
        pair_record(["a:duration", "a:substance"], True, True, "a-positive"),
        pair_record(["a:duration"], False, False, "a-short"),  # consistent
        pair_record(["a:substance"], False, True, "a-substance"),  # over-diagnosed
        pair_record(["b:threshold"], True, False, "b-threshold"),  # missed the positive
        pair_record(["b:threshold"], False, False, "b-below"),
        pair_record([], True, True, "c-unpaired"),  # in no pair
    ]
    result = minimal_pair_consistency(records)
    assert (result.value, result.n) == (pytest.approx(1 / 3), 3)


def test_pair_with_two_positives_is_an_error() -> None:
    records = [pair_record(["x"], True, True, "p1"), pair_record(["x"], True, False, "p2")]
    with pytest.raises(ValueError, match="pair 'x' has 2 positive and 0 negative"):
        minimal_pair_consistency(records)


def test_invariance_counts_groups_with_identical_answers() -> None:
    records: list[Record] = [
        {"invariance_group": "g1", "predicted_label": "panic"},
        {"invariance_group": "g1", "predicted_label": "panic"},
        {"invariance_group": "g1", "predicted_label": "panic"},
        {"invariance_group": "g2", "predicted_label": "panic"},
        {"invariance_group": "g2", "predicted_label": "none"},
        {"invariance_group": "g3", "predicted_label": "none"},  # a lone member is not a group
        {"invariance_group": None, "predicted_label": "none"},
    ]
    result = invariance(records)
    assert (result.value, result.n) == (0.5, 2)
    yes_no_records: list[Record] = [
        {"invariance_group": "g", "predicted_meets": True},
        {"invariance_group": "g", "predicted_meets": False},
    ]
    assert invariance(yes_no_records, answer_key="predicted_meets").value == 0.0


def test_a_model_that_gives_one_answer_to_everything_is_invariant_but_not_invariant_and_correct() -> None:
    records: list[Record] = [
        {"invariance_group": group, "gold_label": gold, "predicted_label": "panic"}
        for group, gold in (("g1", "panic"), ("g2", "ptsd"), ("g3", "ocd"), ("g4", "insomnia"))
        for _ in range(3)
    ]
    assert invariance(records).value == 1.0
    result = invariance_correct(records)
    assert (result.value, result.n) == (0.25, 4)  # only the panic group is right
    records[0] = {**records[0], "predicted_label": "ptsd"}  # one member of the panic group wrong
    assert invariance_correct(records).value == 0.0


def test_metrics_on_generated_items_with_oracle_and_always_yes_answers() -> None:
    criteria = load_criteria()
    records = [
        item.as_record() for item in generate_items({k: criteria[k] for k in ("panic", "ptsd")}, cases_per_disorder=2)
    ]
    oracle = [{**r, "predicted_label": r["gold_label"], "predicted_meets": r["meets_criteria"]} for r in records]
    for metric in (accuracy, sensitivity, positive_predictive_value, specificity, minimal_pair_consistency, invariance):
        assert metric(oracle).value == 1.0, metric.__name__
    always_yes = [{**r, "predicted_label": r["disorder_id"], "predicted_meets": True} for r in records]
    assert sensitivity(always_yes).value == 1.0
    assert specificity(always_yes).value == 0.0
    assert minimal_pair_consistency(always_yes).value == 0.0
    negatives = sum(not r["meets_criteria"] for r in records)
    assert positive_predictive_value(always_yes).value == pytest.approx(1 - negatives / len(records))


def test_a_pair_cut_by_a_limit_is_left_out_and_counted() -> None:
    records = [
        pair_record(["a:x", "a:y"], True, True, "a-positive"),
        pair_record(["a:x"], False, False, "a-x"),  # a:y's negative is beyond the limit
        pair_record(["b:z"], False, False, "b-z"),  # b:z's positive is beyond the limit
    ]
    result = minimal_pair_consistency(records)
    assert (result.value, result.n, result.cut) == (1.0, 1, 2)
    assert minimal_pair_consistency(records[:1]).cut == 2 and math.isnan(minimal_pair_consistency(records[:1]).value)


def test_an_invariance_group_cut_by_a_limit_is_not_a_smaller_group() -> None:
    def member(group: str, label: str) -> Record:
        return {"invariance_group": group, "invariance_group_size": 3, "predicted_label": label, "gold_label": "panic"}

    whole = [member("g1", "panic")] * 3
    cut = [member("g2", "panic"), member("g2", "panic")]  # its third member differs, but was not evaluated
    result = invariance([*whole, *cut])
    assert (result.value, result.n, result.cut) == (1.0, 1, 1)
    assert invariance_correct([*whole, *cut]).n == 1
    with pytest.raises(ValueError, match="invariance group 'g1' has 4 records but its items say it has 3"):
        invariance([*whole, member("g1", "panic")])


def test_records_without_group_sizes_count_groups_of_two_or_more_as_before() -> None:
    records: list[Record] = [{"invariance_group": "g", "predicted_label": "x"}] * 2
    assert (invariance(records).n, invariance(records).cut) == (1, 0)
