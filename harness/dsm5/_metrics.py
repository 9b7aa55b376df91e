"""Metrics of the DSM-5 consistency task, as pure functions over plain records.

A record is an item record (see ``Item.as_record``) with the model's answers added:
``predicted_label`` (a disorder id, ``"none"``, or None if the answer could not be parsed) and
``predicted_meets`` (the yes/no answer to "does this meet the criteria for <disorder_id>?").
Gold fields: ``gold_label`` and ``meets_criteria``. Every metric returns its value, its n and a
binomial standard error; with n == 0 the value and error are NaN rather than a silent 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]


@dataclass(frozen=True)
class MetricResult:
    """A proportion with the number of units it is computed over and its standard error."""

    name: str
    value: float
    n: int
    stderr: float

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "n": self.n, "stderr": self.stderr}


def accuracy(records: Sequence[Record]) -> MetricResult:
    """Share of items whose ``predicted_label`` equals ``gold_label``; unparsed answers count
    as wrong."""
    hits = sum(record.get("predicted_label") == record["gold_label"] for record in records)
    return _proportion("accuracy", hits, len(records))


def sensitivity(records: Sequence[Record]) -> MetricResult:
    """Recall of "meets criteria": of the cases that meet them, the share the model says do."""
    true_pos, false_neg = _count(records, gold=True, predicted=True), _count(records, True, False)
    return _proportion("sensitivity", true_pos, true_pos + false_neg)


def positive_predictive_value(records: Sequence[Record]) -> MetricResult:
    """Precision of "meets criteria": of the model's yes answers, the share that are right.
    Low values mean over-diagnosis."""
    true_pos, false_pos = _count(records, gold=True, predicted=True), _count(records, False, True)
    return _proportion("positive_predictive_value", true_pos, true_pos + false_pos)


def specificity(records: Sequence[Record]) -> MetricResult:
    """Of the cases that do not meet the criteria, the share the model says do not."""
    true_neg, false_pos = _count(records, gold=False, predicted=False), _count(records, False, True)
    return _proportion("specificity", true_neg, true_neg + false_pos)


def minimal_pair_consistency(records: Sequence[Record]) -> MetricResult:
    """Share of minimal pairs answered as the criteria require: yes for the positive member,
    no for the negative one.

    Records are grouped by ``pair_ids``; each pair must have exactly one gold positive and
    one gold negative. The standard error treats pairs as independent, which understates it
    a little because one positive can anchor several pairs.
    """
    members: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        for pair_id in record.get("pair_ids") or ():
            members[pair_id].append(record)
    consistent = 0
    for pair_id in sorted(members):
        positive, negative = _split_pair(pair_id, members[pair_id])
        consistent += _predicted(positive) is True and _predicted(negative) is False
    return _proportion("minimal_pair_consistency", consistent, len(members))


def invariance(records: Sequence[Record], answer_key: str = "predicted_label") -> MetricResult:
    """Share of invariance groups (two or more records) whose answers are all identical."""
    answers: dict[str, list[Hashable]] = defaultdict(list)
    for record in records:
        group = record.get("invariance_group")
        if group is not None:
            answers[group].append(record.get(answer_key))
    groups = [values for values in answers.values() if len(values) >= 2]
    identical = sum(len(set(values)) == 1 for values in groups)
    return _proportion(f"invariance[{answer_key}]", identical, len(groups))


def invariance_correct(records: Sequence[Record]) -> MetricResult:
    """Share of invariance groups (two or more records) in which every member got the gold
    diagnosis. ``invariance`` alone rewards a model that gives one answer to everything; this
    counts a group only when the unchanged answer is also the right one."""
    members: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        group = record.get("invariance_group")
        if group is not None:
            members[group].append(record)
    groups = [group for group in members.values() if len(group) >= 2]
    correct = sum(all(r.get("predicted_label") == r.get("gold_label") for r in group) for group in groups)
    return _proportion("invariance_correct", correct, len(groups))


def _proportion(name: str, successes: int, n: int) -> MetricResult:
    if n == 0:
        return MetricResult(name, math.nan, 0, math.nan)
    value = successes / n
    return MetricResult(name, value, n, math.sqrt(value * (1.0 - value) / n))


def _count(records: Sequence[Record], gold: bool, predicted: bool) -> int:
    return sum(
        _gold(record, index) is gold and _predicted(record, index) is predicted for index, record in enumerate(records)
    )


def _gold(record: Record, index: int = -1) -> bool:
    return _boolean(record, "meets_criteria", index)


def _predicted(record: Record, index: int = -1) -> bool:
    return _boolean(record, "predicted_meets", index)


def _boolean(record: Record, key: str, index: int) -> bool:
    value = record.get(key)
    if not isinstance(value, bool):
        where = f"record {index}" if index >= 0 else f"record {record.get('item_id', '?')}"
        raise ValueError(
            f"{where}: '{key}' is {value!r}, expected true or false; map "
            "unparsable answers to a value explicitly before scoring"
        )
    return value


def _split_pair(pair_id: str, members: list[Record]) -> tuple[Record, Record]:
    positives = [record for record in members if _gold(record) is True]
    negatives = [record for record in members if _gold(record) is False]
    if len(positives) != 1 or len(negatives) != 1:
        raise ValueError(
            f"pair '{pair_id}' has {len(positives)} positive and {len(negatives)} "
            "negative records; each pair needs exactly one of each"
        )
    return positives[0], negatives[0]
