"""Metrics computed over a whole task rather than averaged item by item.

Most per-item metrics are numbers and the task value is their mean. Some are not: sensitivity
counts only the items that meet criteria, a minimal-pair metric needs both members of a pair.
For those, each item's logged value is a small record (gold, prediction, group ids), and the
function registered here turns the list of records into a proportion with its n. lm-eval's
aggregation hooks (tasks/*/utils.py) and mindgate's run summary both call these same functions,
so the number lm-eval prints and the number mindgate stores cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
