"""Per-unit values of one metric, the things a paired test pairs.

For a plain metric a unit is an item and its value is the item's logged number (None: the item
is outside the metric's denominator, e.g. the referral rate at another risk tier).

Record metrics (``harness.metrics.RECORD_METRICS``) log a record per item and are computed over
a whole task; each is paired through the unit its proportion counts, so that the mean of the
unit values is the metric itself:

- ``sensitivity``: items whose gold answer is "meets criteria"; value 1 if the model said yes.
- ``specificity``: items whose gold answer is "does not meet"; value 1 if the model said no.
- ``pair_consistency``: minimal pairs (one positive and one negative member present); value 1
  if the positive got yes and the negative got no.
- ``invariance_label`` / ``invariance_meets``: invariance groups with two or more members, all
  present (a group cut by --limit is no unit); value 1 if all members got the same answer.
- ``invariance_correct``: the same groups; value 1 if every member got the gold diagnosis.
- unit metrics (``harness.metrics.UNIT_METRICS``, e.g. mh_crisis_dialogue's ``harmful_any``):
  their own units, each complete dialogue (``dialogue:<id>``) with its one value; a dialogue cut
  by --limit is no unit. ``referral_delay_turns`` pairs the dialogues both runs referred in.
- ``ppv`` is not paired: its denominator is the items each run answered yes to, so the two runs
  count different units. Compare ``sensitivity`` and ``specificity`` instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.dsm5 import invariance_groups
from harness.metrics import UNIT_METRICS
from harness.store import is_number

UnitValues = dict[str, float]
Records = Iterable[tuple[str, Mapping[str, Any]]]  # (item key, record)


@dataclass(frozen=True)
class Unpairable:
    """Why a metric's values cannot be paired item by item."""

    reason: str


class _BadRecord(Exception):
    pass


def unit_values(metric: str, rows: Mapping[str, Mapping[str, Any]]) -> UnitValues | Unpairable:
    """The metric's value per unit over ``rows`` (item key -> sample row)."""
    values = {key: row.get(metric) for key, row in rows.items()}
    records = {key: value for key, value in values.items() if isinstance(value, Mapping)}
    numbers = {key: float(value) for key, value in values.items() if is_number(value)}
    # NaN is skipped like None, as the run record's own aggregation does.
    others = [value for value in values.values() if not isinstance(value, (Mapping, int, float, type(None)))]
    if others:
        return Unpairable(f"values such as {others[0]!r} are neither numbers nor records")
    if records and numbers:
        return Unpairable("values mix numbers and records")
    if not records:
        return numbers
    if metric in UNPAIRABLE_RECORD_METRICS:
        return Unpairable(UNPAIRABLE_RECORD_METRICS[metric])
    if metric not in RECORD_UNITS:
        return Unpairable(f"record metric {metric!r} has no per-unit definition in harness/compare/_units.py")
    try:
        return RECORD_UNITS[metric](records.items())
    except _BadRecord as error:
        return Unpairable(str(error))


def _answer(record: Mapping[str, Any], key: str, item: str) -> bool:
    value = record.get(key)
    if not isinstance(value, bool):
        raise _BadRecord(f"item {item}: '{key}' is {value!r}, expected true or false")
    return value


def _correct_on_gold(gold: bool) -> Callable[[Records], UnitValues]:
    def units(records: Records) -> UnitValues:
        return {
            key: float(_answer(record, "predicted_meets", key) is gold)
            for key, record in records
            if _answer(record, "meets_criteria", key) is gold
        }

    return units


def _minimal_pairs(records: Records) -> UnitValues:
    members: dict[str, list[tuple[str, Mapping[str, Any]]]] = defaultdict(list)
    for key, record in records:
        for pair_id in record.get("pair_ids") or ():
            members[str(pair_id)].append((key, record))
    units: UnitValues = {}
    for pair_id, pair in members.items():
        positives = [(key, r) for key, r in pair if _answer(r, "meets_criteria", key)]
        negatives = [(key, r) for key, r in pair if not _answer(r, "meets_criteria", key)]
        if len(positives) == 1 and len(negatives) == 1:  # a pair cut in half by --limit is no unit
            (pos_key, positive), (neg_key, negative) = positives[0], negatives[0]
            consistent = _answer(positive, "predicted_meets", pos_key) and not _answer(
                negative, "predicted_meets", neg_key
            )
            units[f"pair:{pair_id}"] = float(consistent)
    return units


def _complete_groups(records: Records) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Invariance groups with every member present (``harness.dsm5.invariance_groups``)."""
    keyed = list(records)
    try:
        groups, _ = invariance_groups([record for _, record in keyed])
    except ValueError as error:
        raise _BadRecord(str(error)) from None
    return {group: [keyed[index] for index in indices] for group, indices in groups.items()}


def _invariance(answer_key: str) -> Callable[[Records], UnitValues]:
    def units(records: Records) -> UnitValues:
        return {
            f"group:{group}": float(len({record.get(answer_key) for _, record in rows}) == 1)
            for group, rows in _complete_groups(records).items()
        }

    return units


def _invariance_correct(records: Records) -> UnitValues:
    return {
        f"group:{group}": float(all(r.get("predicted_label") == r.get("gold_label") for _, r in rows))
        for group, rows in _complete_groups(records).items()
    }


def _unit_metric(name: str) -> Callable[[Records], UnitValues]:
    def units(records: Records) -> UnitValues:
        try:
            return dict(UNIT_METRICS[name].units([record for _, record in records]).values)
        except ValueError as error:
            raise _BadRecord(str(error)) from None

    return units


RECORD_UNITS: dict[str, Callable[[Records], UnitValues]] = {
    **{name: _unit_metric(name) for name in UNIT_METRICS},
    "sensitivity": _correct_on_gold(True),
    "specificity": _correct_on_gold(False),
    "pair_consistency": _minimal_pairs,
    "invariance_label": _invariance("predicted_label"),
    "invariance_meets": _invariance("predicted_meets"),
    "invariance_correct": _invariance_correct,
}

UNPAIRABLE_RECORD_METRICS: dict[str, str] = {
    "ppv": "its denominator is the items each run answered yes to, which differ between runs; "
    "compare sensitivity and specificity instead",
}
