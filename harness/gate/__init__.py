"""The acceptance gate: may a candidate run (an adapter) ship in place of a baseline run?

Rules live in ``rubrics/gate.yaml``: floors on the candidate alone (safety first: a failed floor
rejects whatever skill shows), non-inferiority margins and superiority targets on the paired
difference candidate - baseline. Every rule's result carries its numbers and the reason.
Exit codes: 0 accept, 1 reject, 2 unusable input (rules or runs), as ``MindgateError`` does.
"""

from harness.compare import IncomparableRunsError
from harness.gate._drive import GatedRun, gate_evaluate
from harness.gate._evaluate import evaluate_gate
from harness.gate._floors import FloorCheck, floor_checks
from harness.gate._render import decision_record, decision_table, decision_text
from harness.gate._rules import DEFAULT_RULES_PATH, GateRulesError, load_rules
from harness.gate._runs import GateInputError
from harness.gate._schema import (
    DIRECTIONS,
    METRIC_KINDS,
    RULE_TYPES,
    ComparisonRule,
    Direction,
    FloorRule,
    GateRules,
    MetricScale,
    NonInferiorityRule,
    Rule,
    RuleType,
    SuperiorityRule,
)
from harness.gate._types import (
    EXIT_ACCEPT,
    EXIT_REJECT,
    FloorEvidence,
    GateDecision,
    PairedEvidence,
    RuleResult,
    RuleVerdict,
)

__all__ = [
    "DEFAULT_RULES_PATH",
    "DIRECTIONS",
    "EXIT_ACCEPT",
    "EXIT_REJECT",
    "METRIC_KINDS",
    "RULE_TYPES",
    "ComparisonRule",
    "Direction",
    "FloorCheck",
    "FloorEvidence",
    "FloorRule",
    "GateDecision",
    "GateInputError",
    "GateRules",
    "GateRulesError",
    "GatedRun",
    "IncomparableRunsError",
    "MetricScale",
    "NonInferiorityRule",
    "PairedEvidence",
    "Rule",
    "RuleResult",
    "RuleType",
    "RuleVerdict",
    "SuperiorityRule",
    "decision_record",
    "decision_table",
    "decision_text",
    "evaluate_gate",
    "floor_checks",
    "gate_evaluate",
    "load_rules",
]
