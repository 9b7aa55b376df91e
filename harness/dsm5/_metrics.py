"""Metrics of the DSM-5 consistency task, as pure functions over plain records.

A record is an item record (see ``Item.as_record``) with the model's answers added:
``predicted_label`` (a disorder id, ``"none"``, or None if the answer could not be parsed) and
``predicted_meets`` (the yes/no answer to "does this meet the criteria for <disorder_id>?").
Gold fields: ``gold_label`` and ``meets_criteria``. Every metric returns its value, its n and a
binomial standard error; with n == 0 the value and error are NaN rather than a silent 0.

Metrics over units of several items (minimal pairs, invariance groups) count complete units
only: ``--limit`` evaluates a prefix of the items and can cut a unit, and a pair or group missing
members is not the unit the metric is about. The number of units cut is returned beside n.
A record states its invariance group's size (``invariance_group_size``); records written before
it did count every group of two or more members as complete.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
    cut: int = 0  # units left out because some of their members were not evaluated (--limit)

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "n": self.n, "stderr": self.stderr, "cut": self.cut}


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

    Records are grouped by ``pair_ids``; each complete pair must have exactly one gold positive
    and one gold negative. The standard error treats pairs as independent, which understates it
    a little because one positive can anchor several pairs.
    """
    pairs, cut = minimal_pairs(records)
    consistent = sum(
        _predicted(records[positive]) is True and _predicted(records[negative]) is False
        for positive, negative in pairs.values()
    )
    return _proportion("minimal_pair_consistency", consistent, len(pairs), cut)


def minimal_pairs(records: Sequence[Record]) -> tuple[dict[str, tuple[int, int]], int]:
    """Complete minimal pairs as pair id -> (index of the positive, index of the negative) in
    ``records``, and the number of pairs of which only one member is present (cut by a limit).
    A pair with two positives, two negatives or more than two members is a data error."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        for pair_id in record.get("pair_ids") or ():
            members[str(pair_id)].append(index)
    pairs: dict[str, tuple[int, int]] = {}
    cut = 0
    for pair_id in sorted(members):
        if len(members[pair_id]) == 1:
            cut += 1
            continue
        pairs[pair_id] = _split_pair(pair_id, records, members[pair_id])
    return pairs, cut


def invariance_groups(records: Sequence[Record]) -> tuple[dict[str, list[int]], int]:
    """Complete invariance groups as group id -> indices in ``records``, and the number of groups
    with members missing (cut by a limit). A group is a unit only with two or more members."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        if record.get("invariance_group") is not None:
            members[str(record["invariance_group"])].append(index)
    groups: dict[str, list[int]] = {}
    cut = 0
    for group in sorted(members):
        indices = members[group]
        expected = records[indices[0]].get("invariance_group_size")
        if isinstance(expected, int) and not isinstance(expected, bool):
            if len(indices) > expected:
                raise ValueError(
                    f"invariance group '{group}' has {len(indices)} records but its items say it has {expected} "
                    "members; an item was logged twice or the group sizes are wrong"
                )
            if len(indices) < expected:
                cut += 1
                continue
        if len(indices) >= 2:
            groups[group] = indices
    return groups, cut


def invariance(records: Sequence[Record], answer_key: str = "predicted_label") -> MetricResult:
    """Share of complete invariance groups (two or more records) whose answers are all identical."""
    groups, cut = invariance_groups(records)
    identical = sum(len({records[i].get(answer_key) for i in indices}) == 1 for indices in groups.values())
    return _proportion(f"invariance[{answer_key}]", identical, len(groups), cut)


def invariance_correct(records: Sequence[Record]) -> MetricResult:
    """Share of complete invariance groups (two or more records) in which every member got the
    gold diagnosis. ``invariance`` alone rewards a model that gives one answer to everything; this
    counts a group only when the unchanged answer is also the right one."""
    groups, cut = invariance_groups(records)
    correct = sum(
        all(records[i].get("predicted_label") == records[i].get("gold_label") for i in indices)
        for indices in groups.values()
    )
    return _proportion("invariance_correct", correct, len(groups), cut)


def _proportion(name: str, successes: int, n: int, cut: int = 0) -> MetricResult:
    if n == 0:
        return MetricResult(name, math.nan, 0, math.nan, cut)
    value = successes / n
    return MetricResult(name, value, n, math.sqrt(value * (1.0 - value) / n), cut)


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


def _split_pair(pair_id: str, records: Sequence[Record], members: list[int]) -> tuple[int, int]:
    positives = [index for index in members if _gold(records[index]) is True]
    negatives = [index for index in members if _gold(records[index]) is False]
    if len(positives) != 1 or len(negatives) != 1:
        raise ValueError(
            f"pair '{pair_id}' has {len(positives)} positive and {len(negatives)} "
            "negative records; each pair needs exactly one of each"
        )
    return positives[0], negatives[0]
