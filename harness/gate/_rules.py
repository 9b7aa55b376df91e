"""Loading ``rubrics/gate.yaml`` (schema in ``_schema.py``). Every mistake in the file is reported
with the file, the rule's position and id, and the field, and raises ``GateRulesError`` (exit 2).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from harness.compare import UNPAIRABLE_RECORD_METRICS
from harness.errors import MindgateError
from harness.gate._schema import (
    DIRECTIONS,
    METRIC_KINDS,
    RULE_TYPES,
    Direction,
    FloorRule,
    GateRules,
    HumanAgreementPolicy,
    MetricScale,
    NonInferiorityRule,
    Rule,
    SuperiorityRule,
)
from harness.paths import RUBRICS_DIR

DEFAULT_RULES_PATH = RUBRICS_DIR / "gate.yaml"
SCHEMA_VERSION = 1
_Sign = Literal["any", "positive", "non_negative"]

_TOP_LEVEL_FIELDS = ("version", "allow_partial_runs", "human_agreement", "rules")
_AGREEMENT_FIELDS = ("file", "minimum")
_COMMON_FIELDS = ("id", "type", "task", "metric", "direction", "kind", "optional", "blocking")
_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "floor": ("max_value", "max_ci_high", "min_value", "min_ci_low"),
    "non_inferiority": ("margin",),
    "superiority": ("min_difference",),
}
# Which floor fields fit which direction: (point-value limit, conservative CI bound limit).
_FLOOR_FIELDS: dict[Direction, tuple[str, str]] = {
    "lower": ("max_value", "max_ci_high"),
    "higher": ("min_value", "min_ci_low"),
}


class GateRulesError(MindgateError):
    """A rules file that cannot be used: unreadable, or a rule with a missing or invalid field."""

    exit_code = 2

    def __init__(self, message: str, path: Path, rule_index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.rule_index = rule_index  # 1-based position in `rules`; None for the file as a whole
        self.field = field


def load_rules(path: Path | str = DEFAULT_RULES_PATH) -> GateRules:
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as error:
        raise GateRulesError(f"{path}: cannot read the gate rules ({error.strerror})", path) from None
    try:
        document = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise GateRulesError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})", path) from None
    if not isinstance(document, Mapping):
        raise GateRulesError(f"{path}: expected a mapping with 'version' and 'rules' at the top level", path)
    _check_top_level(path, document)
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise GateRulesError(f"{path}: field 'rules' must be a non-empty list of rules", path, field="rules")
    rules = tuple(_RuleReader(path, index, raw).rule() for index, raw in enumerate(raw_rules, start=1))
    _check_unique_ids(path, rules)
    return GateRules(
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        allow_partial_runs=_top_level_flag(path, document),
        rules=rules,
        human_agreement=_agreement_policy(path, document.get("human_agreement")),
    )


def _agreement_policy(path: Path, raw: Any) -> HumanAgreementPolicy | None:
    """``human_agreement: {file: <relative to this rules file>, minimum: <kappa>}``, or absent."""
    if raw is None:
        return None
    where = "field 'human_agreement'"
    if not isinstance(raw, Mapping):
        raise GateRulesError(
            f"{path}: {where}: expected a mapping with {' and '.join(_AGREEMENT_FIELDS)}", path, field="human_agreement"
        )
    for key in raw:
        if key not in _AGREEMENT_FIELDS:
            raise GateRulesError(
                f"{path}: {where}: unknown field {key!r}; allowed: {', '.join(_AGREEMENT_FIELDS)}",
                path,
                field=f"human_agreement.{key}",
            )
    file = raw.get("file")
    if not isinstance(file, str) or not file.strip() or Path(file).is_absolute():
        raise GateRulesError(
            f"{path}: {where}: 'file' must be a path relative to the rules file (got {file!r}), so that the rules "
            "read the same agreement record in every checkout",
            path,
            field="human_agreement.file",
        )
    minimum = raw.get("minimum")
    if isinstance(minimum, bool) or not isinstance(minimum, int | float) or not -1.0 <= float(minimum) <= 1.0:
        raise GateRulesError(
            f"{path}: {where}: 'minimum' must be a chance-corrected agreement between -1 and 1 (got {minimum!r})",
            path,
            field="human_agreement.minimum",
        )
    return HumanAgreementPolicy(file=path.parent / file, minimum=float(minimum))


def _check_top_level(path: Path, document: Mapping[str, Any]) -> None:
    for key in document:
        if key not in _TOP_LEVEL_FIELDS:
            raise GateRulesError(
                f"{path}: unknown top-level field {key!r}; allowed: {', '.join(_TOP_LEVEL_FIELDS)}", path, field=key
            )
    if document.get("version") != SCHEMA_VERSION:
        raise GateRulesError(
            f"{path}: field 'version' is {document.get('version')!r}; this mindgate reads gate rules version "
            f"{SCHEMA_VERSION}",
            path,
            field="version",
        )


def _top_level_flag(path: Path, document: Mapping[str, Any]) -> bool:
    value = document.get("allow_partial_runs", False)
    if not isinstance(value, bool):
        raise GateRulesError(
            f"{path}: field 'allow_partial_runs' is {value!r}, expected true or false", path, field="allow_partial_runs"
        )
    return value


def _check_unique_ids(path: Path, rules: tuple[Rule, ...]) -> None:
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.id in seen:
            raise GateRulesError(
                f"{path}: {rule.label}: field 'id' repeats rule {seen[rule.id]}; every rule needs its own id, "
                "since stored verdicts name rules by id",
                path,
                rule.index,
                "id",
            )
        seen[rule.id] = rule.index


class _RuleReader:
    """Reads one entry of ``rules``; every failure names the file, the rule and the field."""

    def __init__(self, path: Path, index: int, raw: Any) -> None:
        self.path, self.index = path, index
        self.raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if not isinstance(raw, Mapping):
            self.fail(None, f"expected a mapping of fields, got {type(raw).__name__}")

    def fail(self, field: str | None, problem: str) -> NoReturn:
        rule_id = self.raw.get("id")
        name = f"rule {self.index}" + (f" ({rule_id})" if isinstance(rule_id, str) else "")
        where = f"{name}: field {field!r}" if field else name
        raise GateRulesError(f"{self.path}: {where}: {problem}", self.path, self.index, field)

    def rule(self) -> Rule:
        rule_type = self.choice("type", RULE_TYPES)
        allowed = _COMMON_FIELDS + _TYPE_FIELDS[rule_type]
        for key in self.raw:
            if key not in allowed:
                self.fail(str(key), f"unknown field for a {rule_type} rule; allowed: {', '.join(allowed)}")
        common = {
            "index": self.index,
            "id": self.text("id"),
            "task": self.text("task"),
            "metric": self.text("metric"),
            "direction": self.choice("direction", DIRECTIONS),
            "kind": self.choice("kind", METRIC_KINDS),
            "optional": self.flag("optional", default=False),
            "blocking": self.flag("blocking", default=True),
        }
        if rule_type == "floor":
            return self.floor(common)
        if common["metric"] in UNPAIRABLE_RECORD_METRICS:
            reason = UNPAIRABLE_RECORD_METRICS[common["metric"]]
            self.fail("metric", f"{common['metric']} cannot be paired item by item: {reason}; or give it a floor rule")
        if rule_type == "non_inferiority":
            margin = self.required_number("margin", common["kind"], sign="positive")
            return NonInferiorityRule(**common, margin=margin)
        min_difference = self.optional_number("min_difference", common["kind"], sign="non_negative")
        return SuperiorityRule(**common, min_difference=min_difference or 0.0)

    def floor(self, common: dict[str, Any]) -> FloorRule:
        direction: Direction = common["direction"]
        if not common["blocking"]:
            self.fail("blocking", "a floor is a hard limit and cannot be non-blocking; remove the field")
        other: Direction = "higher" if direction == "lower" else "lower"
        for field in _FLOOR_FIELDS[other]:
            if field in self.raw:
                self.fail(
                    field,
                    f"does not fit direction {direction}; a {direction}-is-better floor uses "
                    f"{' / '.join(_FLOOR_FIELDS[direction])}",
                )
        value_field, bound_field = _FLOOR_FIELDS[direction]
        bound_limit = self.required_number(bound_field, common["kind"])
        unreachable = 0.0 if direction == "lower" else 1.0
        if common["kind"] == "binary" and bound_limit == unreachable:
            self.fail(
                bound_field,
                f"a 95% interval of a proportion never reaches {unreachable:g} at any n, so no run could pass; "
                f"to require a point value of {unreachable:g}, use {value_field}: {unreachable:g} with a "
                f"{bound_field} that n can reach",
            )
        return FloorRule(
            **common, bound_limit=bound_limit, value_limit=self.optional_number(value_field, common["kind"])
        )

    def text(self, field: str) -> str:
        value = self.raw.get(field)
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"missing or not a non-empty string (got {value!r})")
        return str(value).strip()

    def choice(self, field: str, options: tuple[str, ...]) -> Any:
        value = self.raw.get(field)
        if value not in options:
            problem = "missing" if value is None else f"{value!r} is unknown"
            self.fail(field, f"{problem}; use one of {', '.join(options)}")
        return value

    def flag(self, field: str, default: bool) -> bool:
        value = self.raw.get(field, default)
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {value!r}")
        return bool(value)

    def required_number(self, field: str, kind: MetricScale, sign: _Sign = "any") -> float:
        if self.raw.get(field) is None:
            self.fail(field, "missing; this rule type needs it")
        return self._number(field, kind, sign)

    def optional_number(self, field: str, kind: MetricScale, sign: _Sign = "any") -> float | None:
        return None if self.raw.get(field) is None else self._number(field, kind, sign)

    def _number(self, field: str, kind: MetricScale, sign: _Sign) -> float:
        value = self.raw.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(field, f"expected a finite number, got {value!r}")
        if sign == "positive" and value <= 0:
            self.fail(field, f"must be a positive difference, got {value!r}")
        if sign == "non_negative" and value < 0:
            self.fail(field, f"must be 0 or more (an improvement), got {value!r}")
        if kind == "binary" and not 0.0 <= value <= 1.0:
            self.fail(field, f"{value!r} is outside [0, 1], the range of a binary metric (a proportion)")
        return float(value)
