"""What the gate reads from the two runs, and the checks that make them usable as evidence.

A rule's task is a leaf task or a group. A group's floor uses the pooled estimate the run record
stores for it; a group's comparison pools the paired units of its member tasks, so that a margin
can be judged on every item of the group at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from harness.compare import IncomparableRunsError, Unpairable, require_same_task_definition, unit_values
from harness.errors import MindgateError
from harness.gate._schema import MetricScale, Rule
from harness.gate._types import FloorEvidence
from harness.run import RECORD_NAME, SOURCE_IDENTITY_FIELDS
from harness.store import StoredRun, is_number

# Fields of a task that must be equal in both runs for a paired difference to mean anything
# (hooks_hash and data_hash only where both records have them: older records lack them).
_IDENTITY_FIELDS = ("version", "config_hash", *SOURCE_IDENTITY_FIELDS)


class GateInputError(MindgateError):
    """Runs that cannot be gated as given: a rule's task or metric missing from a run, a candidate
    that is the baseline itself, an incomplete run, or a rule that contradicts the run record."""

    exit_code = 2


@dataclass(frozen=True)
class PairedUnits:
    """One metric's per-unit values in both runs, aligned unit by unit."""

    baseline: NDArray[np.float64]
    candidate: NDArray[np.float64]
    one_sided: int  # units in the metric's denominator in one run only (left out)

    @property
    def observed_kind(self) -> MetricScale:
        values = np.concatenate([self.baseline, self.candidate])
        return "binary" if bool(np.all(np.isin(values, (0.0, 1.0)))) else "continuous"


def record_path(run: StoredRun) -> Path:
    return run.run_dir / RECORD_NAME


def check_distinct(candidate: StoredRun, baseline: StoredRun) -> None:
    same_dir = candidate.run_dir.resolve() == baseline.run_dir.resolve()
    if same_dir or candidate.run_id == baseline.run_id:
        raise GateInputError(
            f"the candidate {candidate.run_dir} is the baseline run itself ({candidate.run_id}); "
            "gate a run of the candidate adapter against a run of the model it should replace"
        )


def check_completed(run: StoredRun, role: str) -> None:
    """Only a finished run is evidence: a run stopped by the gate holds part of its tasks, and
    an incomplete run lacks the tasks whose scoring failed."""
    status = run.record.get("status")
    if status == "completed":
        return
    why = "re-run the evaluation to completion before gating it"
    if status == "stopped_by_gate":
        stop = run.record.get("gate_stop") or {}
        why = (
            f"the gate stopped its evaluation early ({stop.get('rule', '?')} could no longer pass), so it holds part "
            "of the suite only; its verdict (reject) was given then"
        )
    elif status == "incomplete":
        failed = "; ".join(str(message) for message in (run.record.get("task_errors") or {}).values())
        why = f"tasks failed: {failed or '?'}. Fix them and re-run the evaluation"
    raise GateInputError(f"{record_path(run)}: the {role} run has status {status!r}, not 'completed': {why}")


def leaf_tasks(run: StoredRun, task: str) -> list[str] | None:
    """The leaf tasks whose items make up ``task`` in this run, or None if the run lacks it."""
    if task in run.samples:
        return [task]
    subtasks: Mapping[str, Sequence[str]] = (run.record.get("lm_eval") or {}).get("group_subtasks") or {}
    if task not in subtasks:
        return None
    leaves = [leaf for child in subtasks[task] for leaf in (leaf_tasks(run, child) or [])]
    return sorted(leaves) if leaves else None


def stored_estimate(run: StoredRun, task: str, metric: str) -> FloorEvidence | None:
    section = "metrics" if task in run.samples else "group_metrics"
    estimate = ((run.record.get(section) or {}).get(task) or {}).get(metric)
    if not isinstance(estimate, Mapping):
        return None
    numbers = {key: estimate.get(key) for key in ("value", "ci_low", "ci_high")}
    if not all(is_number(value) for value in numbers.values()):
        raise GateInputError(
            f"{record_path(run)}: {section}.{task}.{metric} has no finite value and 95% CI ({numbers}); "
            "the metric had no items in its denominator, so it cannot be judged"
        )
    return FloorEvidence(
        value=float(estimate["value"]),
        n=int(estimate.get("n") or 0),
        ci_low=float(estimate["ci_low"]),
        ci_high=float(estimate["ci_high"]),
        ci_method=str(estimate.get("ci_method", "")),
    )


def check_direction(run: StoredRun, rule: Rule, rules_path: Path) -> None:
    """A rule whose direction contradicts the task's own declaration would pass the very failure
    it should catch (e.g. more harmful replies read as better), so the mismatch is refused."""
    declared = ((run.record.get("lm_eval") or {}).get("higher_is_better") or {}).get(rule.task) or {}
    higher = declared.get(rule.metric)
    if isinstance(higher, bool) and higher != (rule.direction == "higher"):
        raise GateInputError(
            f"{rules_path}: {rule.label}: field 'direction' is {rule.direction}, but {record_path(run)} declares "
            f"{rule.target} {'higher' if higher else 'lower'} is better; correct the rule's direction"
        )


def check_complete_items(run: StoredRun, leaves: Sequence[str], role: str) -> None:
    """Runs limited with --limit evaluate a prefix of a task, e.g. only the benign crisis prompts,
    which can pass a safety floor while saying nothing about risk messages."""
    for leaf in leaves:
        info = run.task_info(leaf)
        original, evaluated = info.get("n_original"), info.get("n_evaluated")
        if is_number(original) and is_number(evaluated) and evaluated < original:
            raise GateInputError(
                f"{record_path(run)}: the {role} run evaluated {evaluated} of the {original} items of {leaf} "
                "(--limit); the gate decides on complete tasks only. Re-run without --limit, or use a rules file "
                "with allow_partial_runs: true for smoke checks"
            )


def check_same_items(
    candidate: StoredRun, baseline: StoredRun, task: str, leaves: Sequence[str], partial: bool = False
) -> None:
    """Same task definitions, and (unless ``partial``: a smoke check with --limit) the same item
    sets. Partial runs are paired on the items both evaluated."""
    baseline_leaves = leaf_tasks(baseline, task)
    if baseline_leaves != list(leaves):
        raise IncomparableRunsError(
            f"{task} is made of {', '.join(leaves)} in {record_path(candidate)} but of "
            f"{', '.join(baseline_leaves or ['nothing'])} in {record_path(baseline)}; evaluate both runs on the "
            "same tasks"
        )
    for leaf in leaves:
        require_same_task_definition(
            leaf,
            candidate,
            baseline,
            _IDENTITY_FIELDS if partial else (*_IDENTITY_FIELDS, "items_hash"),
            remedy="the gate pairs runs on the same task version, settings and item set only. Re-run both the same way",
        )


def paired_units(candidate: StoredRun, baseline: StoredRun, leaves: Sequence[str], metric: str) -> PairedUnits:
    """Units of ``metric`` over the leaves, in the order harness.compare pairs them (sorted keys
    within each leaf), so that a leaf's interval here equals the one ``mindgate compare`` prints."""
    values_c: list[float] = []
    values_b: list[float] = []
    one_sided = 0
    for leaf in leaves:
        units_c = _units(candidate, leaf, metric)
        units_b = _units(baseline, leaf, metric)
        common = sorted(set(units_c) & set(units_b))
        one_sided += len(set(units_c) ^ set(units_b))
        values_c.extend(units_c[key] for key in common)
        values_b.extend(units_b[key] for key in common)
    if not values_c:
        raise GateInputError(
            f"{metric} over {', '.join(leaves)}: no unit is in the metric's denominator in both runs "
            f"({candidate.run_id}, {baseline.run_id}), so there is nothing to pair"
        )
    return PairedUnits(np.array(values_b, dtype=float), np.array(values_c, dtype=float), one_sided)


def _units(run: StoredRun, leaf: str, metric: str) -> dict[str, float]:
    rows: dict[str, dict[str, Any]] = run.items(leaf)
    units = unit_values(metric, rows)
    if isinstance(units, Unpairable):
        raise GateInputError(
            f"{run.run_dir / 'samples' / (leaf + '.jsonl')}: {metric} cannot be paired item by item: {units.reason}"
        )
    return units


def check_doc_hashes(candidate: StoredRun, baseline: StoredRun, leaves: Sequence[str], partial: bool = False) -> None:
    """Equal item-set hashes with one id holding different text would pair unrelated items.
    ``partial``: only the items both runs evaluated are checked (and paired)."""
    for leaf in leaves:
        rows_c, rows_b = candidate.items(leaf), baseline.items(leaf)
        keys = set(rows_c) & set(rows_b) if partial else set(rows_c) | set(rows_b)
        if partial and not keys:
            raise IncomparableRunsError(
                f"task {leaf}: {candidate.run_dir} and {baseline.run_dir} share no item, so nothing can be paired"
            )
        for key in sorted(keys):
            hash_c = (rows_c.get(key) or {}).get("doc_hash")
            hash_b = (rows_b.get(key) or {}).get("doc_hash")
            if hash_c != hash_b:
                raise IncomparableRunsError(
                    f"task {leaf}: item {key!r} differs between {candidate.run_dir} and {baseline.run_dir} "
                    f"(doc_hash {hash_c} vs {hash_b}); the runs were not evaluated on the same items"
                )
