"""Comparing two runs item by item: pair, test, correct for multiplicity, warn when underpowered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare._power import minimum_detectable_difference, planning_sd, underpowered_warning
from harness.compare._stats import (
    exact_mcnemar,
    holm_adjust,
    paired_bootstrap_ci,
    paired_permutation_test,
    wilcoxon_signed_rank,
)
from harness.compare._types import Comparison, IncomparableRunsError, MetricComparison, NotCompared
from harness.compare._units import Unpairable, unit_values
from harness.metrics import EVIDENCE_METRICS
from harness.run import RECORD_NAME, SOURCE_IDENTITY_FIELDS
from harness.store import StoredRun, read_run

Rows = dict[str, dict[str, Any]]
# Fields of a task that must match for two runs' scores to measure the same thing.
_TASK_IDENTITY_FIELDS = ("version", "config_hash", *SOURCE_IDENTITY_FIELDS)


def compare_runs(
    run_a_dir: Path | str, run_b_dir: Path | str, margin: float = 0.05, alpha: float = 0.05, seed: int = 0
) -> Comparison:
    """Paired comparison of run B against run A, per task and metric, on the items both scored.

    ``margin`` is the smallest difference worth detecting: metrics whose n cannot detect it at
    80% power get a warning. Holm's correction runs over every (task, metric) tested, since a
    reader may act on any one of them; ``significant`` means Holm-adjusted p < ``alpha``.
    """
    if not margin > 0:
        raise ValueError(f"margin must be a positive difference, got {margin!r}")
    run_a, run_b = read_run(run_a_dir), read_run(run_b_dir)
    tasks = _comparable_tasks(run_a, run_b)
    not_compared = [
        NotCompared(task, None, f"only in run {label} ({run.run_id})")
        for label, run, other in (("A", run_a, run_b), ("B", run_b, run_a))
        for task in sorted(set(run.samples) - set(other.samples))
    ]
    warnings: list[str] = [_status_warning(label, run) for label, run in (("A", run_a), ("B", run_b))]
    warnings = [warning for warning in warnings if warning]
    tested: list[MetricComparison] = []
    for task in tasks:
        rows_a, rows_b, overlap_warning = _paired_rows(run_a, run_b, task)
        warnings.extend(overlap_warning)
        names_a, names_b = _metric_names(rows_a), _metric_names(rows_b)
        for metric in names_a + [name for name in names_b if name not in names_a]:
            if metric not in names_a or metric not in names_b:
                label = "A" if metric in names_a else "B"
                not_compared.append(NotCompared(task, metric, f"logged only by run {label}"))
                continue
            outcome = _compare_metric(task, metric, rows_a, rows_b, margin, alpha, seed)
            if isinstance(outcome, NotCompared):
                not_compared.append(outcome)
            else:
                tested.append(outcome)
    adjusted = holm_adjust([compared.p_value for compared in tested])
    return Comparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        run_a_dir=str(run_a.run_dir),
        run_b_dir=str(run_b.run_dir),
        margin=margin,
        alpha=alpha,
        seed=seed,
        metrics=tuple(replace(c, p_holm=p, significant=p < alpha) for c, p in zip(tested, adjusted, strict=True)),
        not_compared=tuple(not_compared),
        warnings=tuple(warnings),
    )


def _status_warning(label: str, run: StoredRun) -> str:
    """A run that is not a full run is never compared as one: say what it is."""
    status = run.record.get("status")
    if status == "stopped_by_gate":
        stop = run.record.get("gate_stop") or {}
        return (
            f"run {label} ({run.run_id}) is NOT a full run: the gate stopped its evaluation early "
            f"({stop.get('rule', '?')} could no longer pass); only the items it reached are compared"
        )
    if status == "incomplete":
        failed = ", ".join(sorted(run.record.get("task_errors") or {}))
        return f"run {label} ({run.run_id}) is incomplete: the tasks {failed or '?'} failed and are not in it"
    if status != "completed":
        return f"run {label} ({run.run_id}) has status {status!r}, not 'completed'"
    return ""


def _comparable_tasks(run_a: StoredRun, run_b: StoredRun) -> list[str]:
    common = sorted(set(run_a.samples) & set(run_b.samples))
    if not common:
        raise IncomparableRunsError(
            f"runs {run_a.run_id} and {run_b.run_id} share no task (A: {', '.join(sorted(run_a.samples))}; "
            f"B: {', '.join(sorted(run_b.samples))}); evaluate both on the same tasks"
        )
    for task in common:
        require_same_task_definition(
            task,
            run_a,
            run_b,
            _TASK_IDENTITY_FIELDS,
            remedy="scores from different task definitions cannot be paired, re-run both with the same task "
            "version and settings",
        )
    return common


def require_same_task_definition(
    task: str, run_a: StoredRun, run_b: StoredRun, fields: Sequence[str], remedy: str
) -> None:
    """Raise IncomparableRunsError naming the first identity field (version, config hash, item set)
    on which the two run records disagree for ``task``."""
    for field in fields:
        value_a, value_b = run_a.task_info(task).get(field), run_b.task_info(task).get(field)
        if field in SOURCE_IDENTITY_FIELDS and (value_a is None or value_b is None):
            continue  # a record written before these hashes existed: the config hash still applies
        if value_a != value_b:
            raise IncomparableRunsError(
                f"task {task}: tasks.{task}.{field} is {value_a!r} in {run_a.run_dir / RECORD_NAME} but "
                f"{value_b!r} in {run_b.run_dir / RECORD_NAME}; {remedy}"
            )


def _paired_rows(run_a: StoredRun, run_b: StoredRun, task: str) -> tuple[Rows, Rows, list[str]]:
    """Both runs' rows restricted to the items both scored, which must be the same documents."""
    items_a, items_b = run_a.items(task), run_b.items(task)
    common = sorted(set(items_a) & set(items_b))
    if not common:
        raise IncomparableRunsError(
            f"task {task}: the runs share no item (A has {len(items_a)}, B has {len(items_b)}); "
            "they were evaluated on different item sets, so nothing can be paired"
        )
    for key in common:
        hash_a, hash_b = items_a[key].get("doc_hash"), items_b[key].get("doc_hash")
        if hash_a != hash_b:
            raise IncomparableRunsError(
                f"task {task}: item {key!r} has different content in the two runs (doc_hash {hash_a} vs {hash_b}); "
                "the task data changed without a version change"
            )
    warnings = []
    if len(common) < max(len(items_a), len(items_b)):
        warnings.append(
            f"{task}: paired on the {len(common)} items both runs scored "
            f"({len(items_a) - len(common)} only in A, {len(items_b) - len(common)} only in B)"
        )
    return {key: items_a[key] for key in common}, {key: items_b[key] for key in common}, warnings


def _metric_names(rows: Rows) -> list[str]:
    names: dict[str, None] = {}  # ordered set: the task's own metric order
    for row in rows.values():
        names.update(dict.fromkeys(row.get("metrics") or ()))
    return [name for name in names if name not in EVIDENCE_METRICS]


def _compare_metric(
    task: str, metric: str, rows_a: Rows, rows_b: Rows, margin: float, alpha: float, seed: int
) -> MetricComparison | NotCompared:
    units_a, units_b = unit_values(metric, rows_a), unit_values(metric, rows_b)
    if isinstance(units_a, Unpairable):
        return NotCompared(task, metric, units_a.reason)
    if isinstance(units_b, Unpairable):
        return NotCompared(task, metric, units_b.reason)
    keys = sorted(set(units_a) & set(units_b))
    if not keys:
        return NotCompared(task, metric, "no item is in this metric's denominator in both runs")
    a = np.array([units_a[key] for key in keys])
    b = np.array([units_b[key] for key in keys])
    n = len(keys)
    differences = b - a
    sd = planning_sd(float(np.std(differences, ddof=1)) if n > 1 else 0.0, n)
    warnings = [underpowered_warning(n, sd, margin, alpha)]
    one_sided = len(set(units_a) ^ set(units_b))
    if one_sided:
        warnings.append(f"{one_sided} units are in this metric's denominator in one run only and were left out")
    ci_low, ci_high = paired_bootstrap_ci(a, b, seed=seed)
    binary = bool(np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0))))
    mcnemar = exact_mcnemar(a, b) if binary else None
    return MetricComparison(
        task=task,
        metric=metric,
        kind="binary" if binary else "continuous",
        n=n,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        difference=float(differences.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        test="exact McNemar" if mcnemar else "paired permutation",
        p_value=mcnemar.p_value if mcnemar else paired_permutation_test(a, b, seed=seed),
        p_holm=float("nan"),  # filled in once every metric is tested
        significant=False,
        wilcoxon_p=None if mcnemar else wilcoxon_signed_rank(a, b),
        a_only=mcnemar.a_only if mcnemar else None,
        b_only=mcnemar.b_only if mcnemar else None,
        detectable_difference=minimum_detectable_difference(n, sd, alpha),
        warnings=tuple(warning for warning in warnings if warning),
    )
