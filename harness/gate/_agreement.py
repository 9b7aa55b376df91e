"""Notes on how far each rule's scorer agrees with people, from the record ``mindgate annotate
report`` writes (``reports/validation/human_agreement.json``).

A rule is only as good as the scorer behind its metric. When the rules file sets
``human_agreement``, every rule the gate decided is looked up in that record by its target
(``task/metric``): an agreement below the file's minimum, one that could not be measured, or none
measured at all is noted beside the verdict. The verdict itself does not change: the human labels
are a sample too, and what to do about a weak scorer (retrain it, relabel, drop the rule) is a
decision for people, not for a threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.annotate.report import RECORD_FORMAT
from harness.gate._runs import GateInputError
from harness.gate._schema import GateRules, HumanAgreementPolicy
from harness.gate._types import RuleResult

_DECIDED = ("pass", "fail")


def agreement_notes(rules: GateRules, results: Sequence[RuleResult]) -> list[str]:
    policy = rules.human_agreement
    if policy is None:
        return []
    decided = [result for result in results if result.verdict in _DECIDED]
    if not decided:
        return []
    if not policy.file.is_file():
        return [
            f"no human agreement record at {_shown(policy.file, rules.path)}: no rule's scorer has been checked "
            "against people's labels; label a package (`mindgate annotate export`) and write the record with "
            "`mindgate annotate report`"
        ]
    measured = read_agreement_record(policy.file)
    notes: list[str] = []
    unmeasured: list[str] = []
    for result in decided:
        entry = measured.get(result.rule.target)
        if entry is None:
            unmeasured.append(result.rule.id)
            continue
        note = _note(result, entry, policy)
        if note:
            notes.append(note)
    if unmeasured:
        notes.append(
            f"no human agreement measured for the scorer of {', '.join(unmeasured)} "
            f"(record {_shown(policy.file, rules.path)})"
        )
    return notes


def _note(result: RuleResult, entry: Mapping[str, Any], policy: HumanAgreementPolicy) -> str | None:
    value = entry.get("value")
    what = f"{result.rule.id}: its scorer ({entry.get('scorer', '?')}, label {entry.get('field', '?')})"
    n = entry.get("n_items", "?")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{what} could not be compared with people: agreement not measurable on {n} items (one label only)"
    value = float(value)
    if value >= policy.minimum:
        return None
    interval = ""
    if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        interval = f" [95% CI {float(entry['ci_low']):.2f}, {float(entry['ci_high']):.2f}]"
    return (
        f"{what} agrees with people at {entry.get('statistic', 'kappa')} {value:.2f}{interval} on {n} items, "
        f"below the {policy.minimum:g} the rules file sets: this rule's result rests on a scorer people do not "
        "confirm; read it with care"
    )


def read_agreement_record(path: Path) -> dict[str, Mapping[str, Any]]:
    """``task/metric`` -> agreement entry; a damaged record is an error naming the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GateInputError(
            f"{path}: cannot read the human agreement record ({error}); re-write it with `mindgate annotate report`"
        ) from None
    if not isinstance(record, Mapping) or record.get("format") != RECORD_FORMAT:
        raise GateInputError(
            f"{path}: not a human agreement record of format {RECORD_FORMAT!r}; re-write it with "
            "`mindgate annotate report`"
        )
    metrics = record.get("metrics")
    if not isinstance(metrics, Mapping) or not all(isinstance(entry, Mapping) for entry in metrics.values()):
        raise GateInputError(f"{path}: field 'metrics' must map 'task/metric' to an agreement entry")
    return {str(target): entry for target, entry in metrics.items()}


def _shown(path: Path, rules_path: Path) -> str:
    """The record's path as the rules file names it (relative), never this machine's layout."""
    try:
        return str(path.relative_to(rules_path.parent))
    except ValueError:
        return path.name
