import pytest

from harness.run._record import metric_estimate


def _record(item: str, gold: bool, predicted: bool, pairs: list[str], group: str) -> dict:
    return {
        "item_id": item,
        "meets_criteria": gold,
        "predicted_meets": predicted,
        "pair_ids": pairs,
        "invariance_group": group,
    }


ROWS = [
    {"acc": 1.0, "sensitivity": _record("p1", True, True, ["x", "y"], "g1")},
    {"acc": 1.0, "sensitivity": _record("n1", False, False, ["x"], "g2")},
    {"acc": 0.0, "sensitivity": _record("n2", False, True, ["y"], "g3")},
    {"acc": 0.0, "sensitivity": _record("p2", True, False, [], "g1")},
]


def test_record_metric_counts_only_its_own_denominator() -> None:
    estimate = metric_estimate("sensitivity", ROWS, seed=0)
    assert estimate["n"] == 2 and estimate["value"] == pytest.approx(0.5)
    assert estimate["ci_method"] == "wilson"


def test_pair_consistency_needs_both_members_right() -> None:
    rows = [{"pair_consistency": row["sensitivity"]} for row in ROWS]
    estimate = metric_estimate("pair_consistency", rows, seed=0)
    assert estimate["n"] == 2  # pairs x and y
    assert estimate["value"] == pytest.approx(0.5)  # x: yes/no correct; y: negative answered yes


def test_numbers_are_averaged() -> None:
    estimate = metric_estimate("acc", ROWS, seed=0)
    assert estimate["n"] == 4 and estimate["value"] == pytest.approx(0.5)


def test_config_hash_ignores_the_memory_address_in_function_reprs() -> None:
    from harness.run._record import config_hash

    one = {"doc_to_text": "<function diagnosis_prompt at 0x7f94d392b100>", "num_fewshot": 0}
    other = {"doc_to_text": "<function diagnosis_prompt at 0x7f7807354cc0>", "num_fewshot": 0}
    changed = {"doc_to_text": "<function another_prompt at 0x7f7807354cc0>", "num_fewshot": 0}
    assert config_hash(one) == config_hash(other)
    assert config_hash(one) != config_hash(changed)
