"""What a comparison of two runs produces."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.errors import MindgateError

MetricKind = Literal["binary", "continuous"]


class IncomparableRunsError(MindgateError):
    """Two runs whose scores cannot be paired: different task versions or configs, or no shared
    items. A comparison of them would not measure the models alone, so it is refused."""


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one task, over the units (items, pairs or groups) both runs scored.
    Differences are B minus A; means are over the paired units only."""

    task: str
    metric: str
    kind: MetricKind
    n: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    test: str
    p_value: float
    p_holm: float
    significant: bool
    wilcoxon_p: float | None  # continuous metrics: reported beside the permutation test
    a_only: int | None  # binary metrics: units A got right and B got wrong
    b_only: int | None  # binary metrics: units B got right and A got wrong
    detectable_difference: float  # at 80% power, see harness/compare/_power.py
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class NotCompared:
    """A task or metric left out of the comparison, with the reason."""

    task: str
    metric: str | None  # None: the whole task
    reason: str


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    run_a_dir: str
    run_b_dir: str
    margin: float
    alpha: float
    seed: int
    metrics: tuple[MetricComparison, ...]
    not_compared: tuple[NotCompared, ...]
    warnings: tuple[str, ...]

    def get(self, task: str, metric: str) -> MetricComparison:
        for compared in self.metrics:
            if (compared.task, compared.metric) == (task, metric):
                return compared
        raise KeyError(f"{task}/{metric} was not compared; see Comparison.not_compared for the reason")

    def significant(self) -> tuple[MetricComparison, ...]:
        return tuple(compared for compared in self.metrics if compared.significant)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null)."""
        return json_ready(asdict(self))


def json_ready(value: Any) -> Any:
    """The same structure with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
