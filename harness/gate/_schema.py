"""The gate's rules as typed data: what each kind of rule says and how it reads as a criterion.

Three kinds of rule, each on one task (or group) and metric:

- ``floor``: a limit on the candidate run alone, checked on the end of its 95% CI that is
  conservative for the metric's direction (the upper bound of a lower-is-better rate).
- ``non_inferiority``: the paired difference candidate - baseline must not be worse than a margin,
  judged on the end of the difference's 95% CI that is conservative for the direction.
- ``superiority``: the paired difference must be better than ``min_difference`` (default 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RuleType = Literal["floor", "non_inferiority", "superiority"]
Direction = Literal["higher", "lower"]
MetricScale = Literal["binary", "continuous"]
RULE_TYPES: tuple[RuleType, ...] = ("floor", "non_inferiority", "superiority")
DIRECTIONS: tuple[Direction, ...] = ("higher", "lower")
METRIC_KINDS: tuple[MetricScale, ...] = ("binary", "continuous")


@dataclass(frozen=True)
class _RuleBase:
    index: int  # 1-based position in the rules file, for messages
    id: str
    task: str  # a leaf task or a group (whose metric pools its member tasks' items)
    metric: str
    direction: Direction
    kind: MetricScale  # binary: a proportion, margins in proportion points; continuous: a score
    optional: bool  # a task or metric absent from the runs makes the rule not applicable, not an error
    blocking: bool  # a failure rejects the candidate; non-blocking rules are reported targets

    @property
    def target(self) -> str:
        return f"{self.task}/{self.metric}"

    @property
    def label(self) -> str:
        return f"rule {self.index} ({self.id})"


@dataclass(frozen=True)
class FloorRule(_RuleBase):
    bound_limit: float  # limit on ci_high (direction lower) or ci_low (direction higher)
    value_limit: float | None  # optional limit on the point value, same sense

    type: Literal["floor"] = "floor"

    def criterion(self) -> str:
        sign, bound = ("<=", "CI upper bound") if self.direction == "lower" else (">=", "CI lower bound")
        parts = [] if self.value_limit is None else [f"value {sign} {self.value_limit:g}"]
        return " and ".join([*parts, f"{bound} {sign} {self.bound_limit:g}"])


@dataclass(frozen=True)
class NonInferiorityRule(_RuleBase):
    margin: float

    type: Literal["non_inferiority"] = "non_inferiority"

    def criterion(self) -> str:
        if self.direction == "higher":
            return f"difference CI lower bound > -{self.margin:g}"
        return f"difference CI upper bound < +{self.margin:g}"


@dataclass(frozen=True)
class SuperiorityRule(_RuleBase):
    min_difference: float

    type: Literal["superiority"] = "superiority"

    def criterion(self) -> str:
        if self.min_difference == 0:
            return f"difference CI {'lower bound > 0' if self.direction == 'higher' else 'upper bound < 0'}"
        if self.direction == "higher":
            return f"difference CI lower bound > +{self.min_difference:g}"
        return f"difference CI upper bound < -{self.min_difference:g}"


Rule = FloorRule | NonInferiorityRule | SuperiorityRule
ComparisonRule = NonInferiorityRule | SuperiorityRule


@dataclass(frozen=True)
class HumanAgreementPolicy:
    """How far a rule's scorer must agree with people before its result is read without a note.

    ``file`` is the agreement record ``mindgate annotate report`` writes; ``minimum`` is the
    chance-corrected agreement (Cohen's kappa against the raters' consensus) below which the
    verdict notes that the rule rests on a scorer people do not confirm. A note, never a change
    of verdict: the labels that would overturn a scorer are themselves a sample with an interval.
    """

    file: Path
    minimum: float


@dataclass(frozen=True)
class GateRules:
    path: Path
    sha256: str  # of the file's bytes: a stored verdict names exactly the rules it applied
    allow_partial_runs: bool  # accept runs made with --limit (smoke checks only)
    rules: tuple[Rule, ...]
    human_agreement: HumanAgreementPolicy | None = None
