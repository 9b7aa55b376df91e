"""What the gate decides: one result per rule with its evidence, and the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.gate._schema import MetricScale, Rule
from harness.store import Verdict

RuleVerdict = Literal["pass", "fail", "not_applicable", "not_evaluated"]  # not_evaluated: the gate stopped first
EXIT_ACCEPT = 0
EXIT_REJECT = 1


@dataclass(frozen=True)
class FloorEvidence:
    """A metric as a run record stores it (value, n, 95% interval): a floor's evidence."""

    value: float
    n: int
    ci_low: float
    ci_high: float
    ci_method: str


@dataclass(frozen=True)
class PairedEvidence:
    """Candidate - baseline over the units both runs scored; 95% paired bootstrap CI."""

    n: int
    baseline_mean: float
    candidate_mean: float
    difference: float
    ci_low: float
    ci_high: float
    observed_kind: MetricScale
    one_sided: int  # units in the denominator of one run only, left out of the pairing


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    verdict: RuleVerdict
    evidence: str  # the numbers and why they pass or fail, in one readable paragraph
    numbers: FloorEvidence | PairedEvidence | None  # None when the rule was not applicable

    @property
    def rejects(self) -> bool:
        return self.verdict == "fail" and self.rule.blocking


@dataclass(frozen=True)
class GateDecision:
    candidate_run_id: str
    baseline_run_id: str
    candidate_dir: str
    baseline_dir: str
    rules_path: str
    rules_sha256: str
    results: tuple[RuleResult, ...]  # floors first, then comparisons, each in file order
    verdict: Verdict
    reasons: tuple[str, ...]  # why the verdict, most decisive first
    warnings: tuple[str, ...]
    # how far each decided rule's scorer agrees with people (the rules file's human_agreement)
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_ACCEPT if self.verdict == "accept" else EXIT_REJECT

    def result(self, rule_id: str) -> RuleResult:
        for result in self.results:
            if result.rule.id == rule_id:
                return result
        raise KeyError(f"no rule with id {rule_id!r} in {self.rules_path}")
