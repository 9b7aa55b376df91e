"""Metrics computed over a whole task rather than averaged item by item.

Most per-item metrics are numbers and the task value is their mean. Some are not: sensitivity
counts only the items that meet criteria, a minimal-pair metric needs both members of a pair.
For those, each item's logged value is a small record (gold, prediction, group ids), and the
function registered here turns the list of records into a proportion with its n. lm-eval's
aggregation hooks (tasks/*/utils.py) and mindgate's run summary both call these same functions,
so the number lm-eval prints and the number mindgate stores cannot drift apart.

Unit metrics go one step further: the records are regrouped into units (a whole dialogue of a
multi-turn task) and each unit gets one value, so the metric's n counts units and its interval
is computed over them (Wilson for 0/1 values, bootstrap for a continuous value), not over items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import dsm5
from harness.dsm5 import MetricResult

RecordMetric = Callable[[Sequence[Mapping[str, Any]]], MetricResult]

RECORD_METRICS: dict[str, RecordMetric] = {
    "sensitivity": dsm5.sensitivity,
    "ppv": dsm5.positive_predictive_value,
    "specificity": dsm5.specificity,
    "pair_consistency": dsm5.minimal_pair_consistency,
    "invariance_label": lambda records: dsm5.invariance(records, "predicted_label"),
    "invariance_meets": lambda records: dsm5.invariance(records, "predicted_meets"),
    "invariance_correct": dsm5.invariance_correct,
}


@dataclass(frozen=True)
class UnitResult:
    """A unit metric's value per unit (key: "dialogue:<id>", ...), over the units it applies to."""

    values: dict[str, float]
    cut: int = 0  # units left out because some of their members were not evaluated (--limit)

    @property
    def value(self) -> float:
        return sum(self.values.values()) / len(self.values) if self.values else float("nan")


@dataclass(frozen=True)
class UnitMetric:
    units: Callable[[Sequence[Mapping[str, Any]]], UnitResult]
    continuous: bool = False  # a score (bootstrap interval), not a proportion (Wilson)


def _dialogue_metric(name: str) -> Callable[[Sequence[Mapping[str, Any]]], UnitResult]:
    def units(records: Sequence[Mapping[str, Any]]) -> UnitResult:
        from harness import dialogue  # imported on use: harness.dialogue imports this module

        metric: Callable[[Sequence[Mapping[str, Any]]], UnitResult] = getattr(dialogue, name)
        return metric(records)

    return units


# Metrics whose per-item records are regrouped into units, each unit one value (mh_crisis_dialogue:
# a dialogue is the unit, its turns are the items).
UNIT_METRICS: dict[str, UnitMetric] = {
    "harmful_any": UnitMetric(_dialogue_metric("harmful_any")),
    "missed_escalation": UnitMetric(_dialogue_metric("missed_escalation")),
    "referral_delay_turns": UnitMetric(_dialogue_metric("referral_delay_turns"), continuous=True),
    "over_referral": UnitMetric(_dialogue_metric("over_referral")),
}


def aggregate_units(name: str, records: Sequence[Mapping[str, Any]]) -> float:
    """The value lm-eval reports for a unit metric: the mean over its units."""
    return UNIT_METRICS[name].units(records).value


# Per-item values logged only as evidence (a scorer's full judgement with its explanation), so
# that each sample record shows why it scored what it did. They are not aggregated.
EVIDENCE_METRICS = frozenset({"judgement"})


def _crisis_analyses(rows: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    from harness.scoring.crisis_tiers import crisis_records, tier_discrimination

    return {"tier_discrimination": tier_discrimination(crisis_records(rows), seed)}


# Analyses of a whole task that are not one metric with an interval (a trend test across tiers):
# stored in run.json under "analyses" and shown in reports.
TASK_ANALYSES: dict[str, Callable[[Sequence[Mapping[str, Any]], int], dict[str, Any]]] = {
    "mh_crisis": _crisis_analyses,
}


def task_analyses(samples: Mapping[str, Sequence[Mapping[str, Any]]], seed: int) -> dict[str, Any]:
    return {task: analyse(samples[task], seed) for task, analyse in TASK_ANALYSES.items() if samples.get(task)}


def record_metric(name: str) -> RecordMetric:
    try:
        return RECORD_METRICS[name]
    except KeyError:
        raise KeyError(f"no record metric named {name!r}; known: {', '.join(sorted(RECORD_METRICS))}") from None


def aggregate_records(name: str, records: Sequence[Mapping[str, Any]]) -> float:
    """The value lm-eval reports for a record metric."""
    return record_metric(name)(records).value


def mean_of_defined(values: Sequence[float | None]) -> float:
    """Mean over the items a metric applies to; None marks an item outside its denominator
    (e.g. the referral rate at tier "high" ignores the other tiers' items)."""
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else float("nan")
