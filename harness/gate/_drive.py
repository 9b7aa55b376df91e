"""Evaluation driven by the gate: ``mindgate gate --baseline B --model M [--adapter A]``.

The tasks the rules need are evaluated, floor tasks first and in chunks of documents; after each
chunk every binary floor on that task is asked whether it can still pass (``harness.gate._stop``).
When one cannot, the evaluation stops: the partial run is written with status
``stopped_by_gate`` (kept, never shown as a full run, and resumable: finished requests are in the
request cache), and the candidate is rejected with that floor's evidence. A candidate that keeps
every floor within reach runs the rest of the tasks and gets the usual verdict from
``evaluate_gate`` on its complete run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from harness.gate._agreement import agreement_notes
from harness.gate._evaluate import evaluate_gate
from harness.gate._plan import GatePlan, plan_tasks, remaining_in_denominator
from harness.gate._rules import load_rules
from harness.gate._runs import GateInputError, check_completed
from harness.gate._schema import FloorRule, GateRules
from harness.gate._stop import FloorOutlook, binary_values, floor_outlook, stop_evidence
from harness.gate._types import GateDecision, RuleResult
from harness.models import ResolvedAdapter, ResolvedModel, check_adapter_fits, resolve_adapter, resolve_model
from harness.paths import runs_dir
from harness.run import (
    EvalConfig,
    attach_judgements,
    build_record,
    mark_failed_tasks,
    merge_results,
    run_isolated,
    store_run,
)
from harness.run._isolate import describe_failure
from harness.run._lmeval import generation_batch_size, hf_lm, run_lm_eval
from harness.run._record import new_run_id
from harness.run._tasks import task_manager
from harness.run._timing import timing_scope
from harness.store import StoredRun, read_run

DEFAULT_CHUNK = 32


@dataclass(frozen=True)
class GatedRun:
    run_dir: Path
    decision: GateDecision
    stopped: bool


@dataclass
class _Stop:
    task: str
    outlooks: list[tuple[FloorOutlook, str]]  # each failed floor with its evidence
    items_seen: int
    items_planned: int


@dataclass
class _Session:
    config: EvalConfig
    model: ResolvedModel
    adapter: ResolvedAdapter | None
    manager: Any
    lm: Any
    console: Console

    def run(self, names: tuple[str, ...], samples: dict[str, list[int]] | None = None) -> dict[str, Any]:
        chunk_config = replace(self.config, tasks=names, limit=None if samples else self.config.limit)
        return run_lm_eval(
            chunk_config, self.model, self.adapter, self.manager, self.lm, samples=samples, console=self.console
        )


def gate_evaluate(
    config: EvalConfig,
    baseline_dir: Path | str,
    rules_path: Path | str,
    console: Console,
    runs_root: Path | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> GatedRun:
    rules = load_rules(rules_path)
    baseline = read_run(baseline_dir)
    check_completed(baseline, "baseline")
    _check_settings(config, rules, chunk_size)
    with console.status("resolving tasks and model"):
        manager = task_manager(tuple(dict.fromkeys(rule.task for rule in rules.rules)))
        plan = plan_tasks(rules, baseline, manager)
        model = resolve_model(config.model)
    adapter = resolve_adapter(config.adapters[0]) if config.adapters else None
    if adapter is not None:
        check_adapter_fits(adapter, model.path)
    config = replace(config, tasks=plan.names, generation_batch_size=generation_batch_size(config))
    with timing_scope() as timing:
        session = _Session(config, model, adapter, manager, hf_lm(config, model, adapter), console)
        run_id = new_run_id(model.name, adapter.name if adapter else None)
        console.print(
            f"[bold]mindgate gate[/bold] run {run_id}: floors first on {', '.join(plan.floor_tasks) or '(none)'}, "
            f"then {', '.join(plan.rest) or '(nothing else)'}"
        )
        started_at, started = time.time(), time.monotonic()
        raw: dict[str, Any] = {}
        errors: dict[str, str] = {}
        stop = _floor_phase(session, plan, rules, baseline, chunk_size, raw, errors)
        if stop is None and not errors and plan.rest:
            rest, rest_errors = run_isolated(session.run, plan.rest, manager, console)
            merge_results(raw, rest)
            errors |= rest_errors
        for group, members in plan.expanded.items():
            raw.setdefault("group_subtasks", {})[group] = [m for m in members if m in raw.get("samples", {})]
        samples = {task: sorted(rows, key=lambda row: row["doc_id"]) for task, rows in raw.pop("samples", {}).items()}
        with timing.stage("aggregation"):
            record = build_record(run_id, config, model, adapter, raw, samples, started_at, time.monotonic() - started)
        with timing.stage("scoring"):
            attach_judgements(record, config, samples)
    record["timing"] = timing.as_record()
    mark_failed_tasks(record, errors)
    record["gate"] = {
        "baseline_run_id": baseline.run_id,
        "rules_sha256": rules.sha256,
        "chunk_size": chunk_size,
        # lm-eval aggregated these chunk by chunk; their metrics come from the per-item records only
        "evaluated_in_chunks": list(plan.floor_tasks),
    }
    if stop is not None:
        record["status"] = "stopped_by_gate"
        record["gate_stop"] = _stop_record(stop, plan)
    run_dir = store_run(runs_root or runs_dir(), run_id, record, samples, console)
    if stop is None:
        return GatedRun(run_dir, evaluate_gate(run_dir, baseline.run_dir, rules.path), stopped=False)
    return GatedRun(run_dir, _stopped_decision(stop, rules, run_id, run_dir, baseline), stopped=True)


def _check_settings(config: EvalConfig, rules: GateRules, chunk_size: int) -> None:
    if config.backend != "hf":
        raise GateInputError(
            "gate-driven evaluation runs the hf backend; with --backend vllm, evaluate with `mindgate eval` and "
            "gate the run with `mindgate gate --candidate RUN`"
        )
    if len(config.adapters) > 1:
        raise GateInputError("the gate judges one candidate at a time: pass at most one --adapter")
    if config.limit is not None and not rules.allow_partial_runs:
        raise GateInputError(
            f"--limit {config.limit}: {rules.path} refuses partial runs (allow_partial_runs: false), so the gate "
            "could not judge the run; drop --limit, or use a rules file for smoke checks"
        )
    if chunk_size < 1:
        raise GateInputError(f"--chunk-size {chunk_size}: evaluate at least one document per chunk")


def _floor_phase(
    session: _Session,
    plan: GatePlan,
    rules: GateRules,
    baseline: StoredRun,
    chunk_size: int,
    raw: dict[str, Any],
    errors: dict[str, str],
) -> _Stop | None:
    for task in plan.floor_tasks:
        planned = _document_count(session.manager, task, session.config.limit)
        rows: list[dict[str, Any]] = []
        for start in range(0, planned, chunk_size):
            indices = list(range(start, min(start + chunk_size, planned)))
            try:
                part = session.run((task,), samples={task: indices})
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:
                errors[task] = describe_failure(task, "evaluating or scoring it with lm-eval", error)
                return None
            rows.extend(part.pop("samples", {}).get(task, []))
            part.get("results", {}).pop(task, None)  # lm-eval's aggregate of one chunk is not the task's
            merge_results(raw, {**part, "samples": {task: rows}})
            raw.setdefault("n-samples", {})[task] = {"original": _original(part, task, planned), "effective": len(rows)}
            remaining = list(range(indices[-1] + 1, planned))
            stop = _judge_floors(task, rules, rows, remaining, baseline, planned)
            _progress(session.console, task, len(rows), planned, stop)
            if stop is not None:
                return stop
    return None


def _document_count(manager: Any, task: str, limit: int | None) -> int:
    count = len(manager.load([task])["tasks"][task].eval_docs)
    return count if limit is None else min(count, int(limit))


def _original(part: dict[str, Any], task: str, planned: int) -> int:
    original = (part.get("n-samples") or {}).get(task, {}).get("original")
    return int(original) if isinstance(original, int) else planned


def _judge_floors(
    task: str,
    rules: GateRules,
    rows: list[dict[str, Any]],
    remaining: list[int],
    baseline: StoredRun,
    planned: int,
) -> _Stop | None:
    failed: list[tuple[FloorOutlook, str]] = []
    baseline_rows = baseline.samples.get(task)
    for rule in rules.rules:
        if not isinstance(rule, FloorRule) or rule.task != task or rule.kind != "binary":
            continue
        values = binary_values([row.get(rule.metric) for row in rows])
        if values is None:
            continue
        count, membership = remaining_in_denominator(rule.metric, rows, remaining, baseline_rows)
        outlook = floor_outlook(rule, values, count)
        if outlook is not None and not outlook.passable:
            failed.append((outlook, stop_evidence(outlook, len(rows), planned, task, membership)))
    return _Stop(task, failed, len(rows), planned) if failed else None


def _progress(console: Console, task: str, seen: int, planned: int, stop: _Stop | None) -> None:
    if stop is None:
        console.print(f"  {task}: {seen} of {planned} items, every floor can still pass")
        return
    names = ", ".join(outlook.rule.id for outlook, _ in stop.outlooks)
    console.print(f"  {task}: {seen} of {planned} items: [bold red]{escape(names)} can no longer pass[/bold red]")


def _stop_record(stop: _Stop, plan: GatePlan) -> dict[str, Any]:
    first, evidence = stop.outlooks[0]
    done = plan.floor_tasks[: plan.floor_tasks.index(stop.task)]
    return {
        "rule": first.rule.id,
        "target": first.rule.target,
        "evidence": evidence,
        "failed_floors": {outlook.rule.id: text for outlook, text in stop.outlooks},
        "task": stop.task,
        "items_seen": stop.items_seen,
        "items_planned": stop.items_planned,
        "tasks_finished": list(done),
        "tasks_not_evaluated": [name for name in plan.names if name not in done and name != stop.task],
    }


def _stopped_decision(stop: _Stop, rules: GateRules, run_id: str, run_dir: Path, baseline: StoredRun) -> GateDecision:
    failed = {outlook.rule.id: (outlook, text) for outlook, text in stop.outlooks}
    results = []
    ordered = [r for r in rules.rules if isinstance(r, FloorRule)] + [
        r for r in rules.rules if not isinstance(r, FloorRule)
    ]
    for rule in ordered:
        if rule.id in failed:
            outlook, text = failed[rule.id]
            results.append(RuleResult(rule, "fail", text, outlook.seen))
        else:
            results.append(
                RuleResult(rule, "not_evaluated", "Not evaluated: the evaluation stopped before this was judged.", None)
            )
    reasons = [
        f"floor {rule_id} can no longer pass ({outlook.rule.target}) after {stop.items_seen} of {stop.items_planned} "
        f"items of {stop.task}: the evaluation stopped there; a floor failure rejects whatever the comparisons show"
        for rule_id, (outlook, _) in failed.items()
    ]
    return GateDecision(
        candidate_run_id=run_id,
        baseline_run_id=baseline.run_id,
        candidate_dir=str(run_dir),
        baseline_dir=str(baseline.run_dir),
        rules_path=str(rules.path),
        rules_sha256=rules.sha256,
        results=tuple(results),
        verdict="reject",
        reasons=tuple(reasons),
        warnings=(
            f"the candidate run {run_id} is partial (status stopped_by_gate): kept, resumable from the request cache, "
            "and never gated, promoted or ranked as a full run",
        ),
        notes=tuple(agreement_notes(rules, results)),
    )
