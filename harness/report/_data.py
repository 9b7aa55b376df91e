"""What a report shows, gathered from run directories: each run's main metric per task with its
stored 95% CI, the paired comparison and the gate decision of every run against the baseline,
and the worst samples per task. No statistics are computed here: the numbers come from the run
records, ``harness.compare`` and ``harness.gate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compare import Comparison, compare_runs
from harness.errors import MindgateError
from harness.gate import DEFAULT_RULES_PATH, FloorCheck, GateDecision, GateRulesError, evaluate_gate, floor_checks
from harness.gate import load_rules as load_gate_rules
from harness.report._samples import SampleView, sample_metric, worst_samples
from harness.store import StoredRun, is_number, read_run

WORST_SAMPLES = 5


@dataclass(frozen=True)
class TaskScore:
    """A task's main metric (the first its run record lists) as the run record stores it."""

    task: str
    metric: str
    higher_is_better: bool | None
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    units_cut: int = 0  # units (pairs, groups) left out because --limit cut them


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    run_dir: str
    model: str
    adapter: str | None
    status: str
    scores: Mapping[str, TaskScore]  # task -> main metric, in the run record's task order
    metrics: Mapping[str, tuple[TaskScore, ...]]  # task -> every metric the record stores, in its order
    worst: Mapping[str, tuple[SampleView, ...]]  # task -> worst samples
    floors: tuple[FloorCheck, ...]  # the rules' floors judged on this run alone
    status_note: str | None  # why a run that is not complete is not (stopped by the gate, failed tasks)


@dataclass(frozen=True)
class VersusBaseline:
    """One run against the baseline. A comparison or gate that cannot be made keeps its error
    message instead, so that the rest of the report is still written."""

    run_id: str
    comparison: Comparison | None
    comparison_error: str | None
    gate: GateDecision | None
    gate_error: str | None


@dataclass(frozen=True)
class ReportData:
    runs: tuple[RunSummary, ...]
    baseline_run_id: str | None  # None: a single run, nothing to compare
    versus: tuple[VersusBaseline, ...]
    rules_path: str
    samples_per_task: int
    rules_error: str | None = None  # the rules file could not be read: no floors shown

    @property
    def tasks(self) -> list[str]:
        """Every task of any run, in first-seen order."""
        return list(dict.fromkeys(task for run in self.runs for task in run.scores))

    def run(self, run_id: str) -> RunSummary:
        return next(run for run in self.runs if run.run_id == run_id)


def gather_report(
    run_dirs: Sequence[Path | str],
    baseline_dir: Path | str | None = None,
    rules_path: Path | str = DEFAULT_RULES_PATH,
    samples_per_task: int = WORST_SAMPLES,
) -> ReportData:
    """Read the runs (the baseline first; default: the first run) and gather everything shown.
    A run that cannot be read raises ``RunRecordError``; a comparison or a gate that cannot be
    made is kept as its message."""
    ordered = _ordered_dirs(run_dirs, baseline_dir)
    stored = [read_run(path) for path in ordered]
    try:
        rules, rules_error = load_gate_rules(rules_path), None
    except GateRulesError as error:
        rules, rules_error = None, str(error)
    summaries = tuple(
        summarise(run, samples_per_task, tuple(floor_checks(run.record, rules)) if rules else ()) for run in stored
    )
    baseline = stored[0] if len(stored) > 1 else None
    versus = tuple(_versus(run, baseline, Path(rules_path)) for run in stored[1:]) if baseline else ()
    return ReportData(
        runs=summaries,
        baseline_run_id=baseline.run_id if baseline else None,
        versus=versus,
        rules_path=str(rules_path),
        samples_per_task=samples_per_task,
        rules_error=rules_error,
    )


def summarise(run: StoredRun, samples_per_task: int = WORST_SAMPLES, floors: tuple[FloorCheck, ...] = ()) -> RunSummary:
    model = run.record.get("model") or {}
    adapter = run.record.get("adapter") or {}
    scores = {task: score for task in run.samples if (score := main_score(run, task)) is not None}
    metrics = {task: every_score(run, task) for task in run.samples}
    worst: dict[str, tuple[SampleView, ...]] = {}
    for task in run.samples:
        main = scores.get(task)
        metric = sample_metric(run, task, main.metric if main else None)
        if metric is not None:
            direction = _higher_is_better(run, task, metric)
            worst[task] = tuple(worst_samples(run, task, metric, direction, samples_per_task))
    return RunSummary(
        run_id=run.run_id,
        run_dir=str(run.run_dir),
        model=str(model.get("name") or model.get("spec") or "?"),
        adapter=None if not adapter.get("name") else str(adapter["name"]),
        status=str(run.record.get("status", "unknown")),
        scores=scores,
        metrics=metrics,
        worst=worst,
        floors=floors,
        status_note=_status_note(run.record),
    )


def _status_note(record: Mapping[str, Any]) -> str | None:
    status = record.get("status")
    if status == "stopped_by_gate":
        stop = record.get("gate_stop") or {}
        return (
            f"Partial run: the gate stopped this evaluation after {stop.get('items_seen', '?')} of "
            f"{stop.get('items_planned', '?')} items of {stop.get('task', '?')}, because {stop.get('rule', '?')} "
            f"could no longer pass. {stop.get('evidence', '')}"
        )
    if status == "incomplete":
        return "Incomplete run: " + " ".join(str(m) for m in (record.get("task_errors") or {}).values())
    return None if status == "completed" else f"Run status {status!r}."


def main_score(run: StoredRun, task: str) -> TaskScore | None:
    """The first metric the run record lists for the task (as the leaderboard ranks by)."""
    scores = every_score(run, task)
    return scores[0] if scores else None


def every_score(run: StoredRun, task: str) -> tuple[TaskScore, ...]:
    """Every metric the run record stores for the task, in its order (a new metric of a task shows
    up here without any change to the report)."""
    metrics = (run.record.get("metrics") or {}).get(task)
    if not isinstance(metrics, Mapping):
        return ()
    return tuple(_score(run, task, str(metric), estimate) for metric, estimate in metrics.items())


def _score(run: StoredRun, task: str, metric: str, estimate: Any) -> TaskScore:
    estimate = estimate if isinstance(estimate, Mapping) else {}
    n, cut = estimate.get("n"), estimate.get("units_cut")
    return TaskScore(
        task=task,
        metric=str(metric),
        higher_is_better=_higher_is_better(run, task, metric),
        value=_finite(estimate.get("value")),
        n=int(n) if is_number(n) else 0,
        ci_low=_finite(estimate.get("ci_low")),
        ci_high=_finite(estimate.get("ci_high")),
        ci_method=estimate.get("ci_method"),
        units_cut=int(cut) if is_number(cut) else 0,
    )


def _versus(run: StoredRun, baseline: StoredRun, rules_path: Path) -> VersusBaseline:
    comparison, comparison_error = None, None
    try:
        comparison = compare_runs(baseline.run_dir, run.run_dir)
    except MindgateError as error:
        comparison_error = str(error)
    gate, gate_error = None, None
    try:
        gate = evaluate_gate(run.run_dir, baseline.run_dir, rules_path)
    except MindgateError as error:
        gate_error = str(error)
    return VersusBaseline(run.run_id, comparison, comparison_error, gate, gate_error)


def _ordered_dirs(run_dirs: Sequence[Path | str], baseline_dir: Path | str | None) -> list[Path]:
    """The baseline first, then the other runs in the order given; each directory once."""
    if not run_dirs and baseline_dir is None:
        raise ValueError("a report needs at least one run")
    paths = [Path(path) for path in ([baseline_dir] if baseline_dir is not None else []) + list(run_dirs)]
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _higher_is_better(run: StoredRun, task: str, metric: str) -> bool | None:
    directions: Any = ((run.record.get("lm_eval") or {}).get("higher_is_better") or {}).get(task) or {}
    direction = directions.get(metric) if isinstance(directions, Mapping) else None
    return None if direction is None else bool(direction)


def _finite(value: Any) -> float | None:
    return float(value) if is_number(value) else None
