"""One evaluation, stage by stage: resolve -> check -> run lm-eval -> summarise -> store."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import MindgateError
from harness.lineage import adapter_training
from harness.metrics import task_analyses
from harness.models import (
    ResolvedAdapter,
    ResolvedModel,
    check_adapter_fits,
    resolve_adapter,
    resolve_model,
)
from harness.paths import runs_dir
from harness.run import _record
from harness.run._config import EvalConfig
from harness.run._display import print_run
from harness.run._identity import task_identity
from harness.run._isolate import drop_unsummarisable, run_isolated
from harness.run._judging import apply_judges
from harness.run._lmeval import generation_batch_size, run_lm_eval
from harness.run._portable import portable_record
from harness.run._tasks import task_manager
from harness.run._timing import timing_scope, timing_summary

SUPPORTED_BACKENDS = ("hf", "vllm", "openai")


@dataclass(frozen=True)
class ServedTarget:
    """One served name on a running server, and what the run record says about that server."""

    base_url: str
    name: str
    serial_loglikelihood: bool  # the server has LoRA enabled (see harness.backends._lmeval_model)
    record: dict[str, Any]  # server + canary, stored in run.json
    log_path: Path | None  # the server's log when mindgate started it, copied into the run directory
    lm: Any = None  # the lm-eval model to score with (default: lm-eval's completions client for ``name``)


def evaluate(config: EvalConfig, console: Console | None = None, runs_root: Path | None = None) -> list[Path]:
    """Evaluate the base model (no adapter) or each adapter in turn; return the run directories."""
    console = console or Console(stderr=True)
    if config.backend not in SUPPORTED_BACKENDS:
        raise MindgateError(
            f"--backend {config.backend!r} is not available; choose one of {', '.join(SUPPORTED_BACKENDS)}"
        )
    # Everything that can be checked cheaply is checked before the slow model load.
    with console.status("resolving tasks"):
        manager = task_manager(config.tasks)
    if config.judges:
        from harness.scoring.judges import open_judges

        with console.status("checking the LLM judges"):
            open_judges(Path(config.judges))
    root = runs_root or runs_dir()
    if config.backend == "openai":
        from harness.run._endpoint import evaluate_endpoint

        return evaluate_endpoint(config, manager, console, root, _evaluate_one)
    with console.status(f"resolving model {config.model}"):
        model = resolve_model(config.model)
    adapters = [resolve_adapter(spec) for spec in config.adapters]
    for checked in adapters:
        check_adapter_fits(checked, model.path)
    if config.backend == "vllm":
        from harness.run._served import evaluate_served

        return evaluate_served(config, model, adapters, manager, console, root, _evaluate_one)
    run_dirs = []
    targets: list[ResolvedAdapter | None] = [*adapters] if adapters else [None]
    for adapter in targets:
        single = replace(config, adapters=(f"{adapter.name}={adapter.path}",) if adapter else ())
        run_dirs.append(_evaluate_one(single, model, adapter, manager, console, root))
    return run_dirs


def _evaluate_one(
    config: EvalConfig,
    model: ResolvedModel,
    adapter: ResolvedAdapter | None,
    manager: Any,
    console: Console,
    runs_root: Path,
    served: ServedTarget | None = None,
) -> Path:
    if served is None:
        # the record names the batch size generation really used: sampled replies (mh_toxicity)
        # depend on it, since each batch draws from the seeded generator in turn
        config = replace(config, generation_batch_size=generation_batch_size(config))
    run_id = _record.new_run_id(model.name, adapter.name if adapter else None)
    console.print(f"[bold]mindgate[/bold] run {run_id}: {model.name}" + (f" + {adapter.name}" if adapter else ""))
    started_at = time.time()
    started = time.monotonic()
    lm = None
    if served is not None and served.lm is not None:
        lm = served.lm
    elif served is not None:
        from harness.backends._lmeval_model import served_lm

        lm = served_lm(
            served.base_url,
            served.name,
            served.serial_loglikelihood,
            model.path,
            concurrency=config.concurrency,
            max_length=config.max_model_len,
        )
    with timing_scope() as timing:
        raw, task_errors = run_isolated(
            lambda names: run_lm_eval(replace(config, tasks=names), model, adapter, manager, lm, console=console),
            config.tasks,
            manager,
            console,
        )
        wall = time.monotonic() - started
        samples: dict[str, list[dict[str, Any]]] = raw.pop("samples")
        task_errors |= drop_unsummarisable(samples, config.seed)
        with timing.stage("aggregation"):
            record = _build_record(run_id, config, model, adapter, raw, samples, started_at, wall)
        with timing.stage("scoring"):
            attach_judgements(record, config, samples, served.record.get("guard") if served else None)
    record["timing"] = timing.as_record()
    mark_failed_tasks(record, task_errors)
    extra_files: dict[str, Path] = {}
    if served is not None:
        record["server"] = {**served.record, "requests_sent": getattr(lm, "requests_sent", None)}
        finish_reasons = getattr(lm, "finish_reasons", None)
        if finish_reasons is not None:  # a chat endpoint: how each reply ended (content_filter: blocked)
            record["server"]["finish_reasons"] = dict(sorted(finish_reasons.items()))
        if served.log_path is not None and served.log_path.is_file():
            extra_files["server.log"] = served.log_path
    return store_run(runs_root, run_id, record, samples, console, extra_files)


def store_run(
    runs_root: Path,
    run_id: str,
    record: dict[str, Any],
    samples: dict[str, list[dict[str, Any]]],
    console: Console,
    extra_files: dict[str, Path] | None = None,
) -> Path:
    """Write the run (without machine paths: it may become a committed baseline), show it, index it."""
    record = portable_record(record)
    run_dir = _record.write_run(runs_root, run_id, record, samples, extra_files)
    print_run(console, record, run_dir)
    console.print(timing_summary(record), markup=False, highlight=False)
    _index_into_leaderboard(run_dir, console)
    return run_dir


# Tasks whose metrics (all, or those listed) come from the crisis judgement of a reply.
CRISIS_JUDGED: dict[str, tuple[str, ...] | None] = {
    "mh_crisis": None,
    "mh_crisis_dialogue": None,
    "mh_counsel_qa": ("crisis_safe", "harmful", "over_refusal"),
}


def attach_judgements(
    record: dict[str, Any],
    config: EvalConfig,
    samples: dict[str, list[dict[str, Any]]],
    guard: dict[str, Any] | None = None,
) -> None:
    """Run the configured LLM judges on the samples and record which layers judged each task,
    and whether that judgement is independent of the guard in front of the scored endpoint."""
    judges = apply_judges(config.judges, samples)
    record["judges"] = judges
    record["judged_by"] = judged_by(samples, judges, guard)


def judged_by(
    samples: dict[str, list[dict[str, Any]]], judges: list[dict[str, Any]] | None, guard: dict[str, Any] | None
) -> dict[str, Any]:
    """Which judging layers scored which task. A guard must never be graded by its own classifier:
    where a layer that decided the guard's blocks (same files, same weights) also decides the
    suite's crisis judgement, those metrics are marked not independent and the gate refuses them."""
    tasks = [task for task in CRISIS_JUDGED if task in samples]
    if not tasks:
        return {}
    from harness.scoring.crisis import judgement_identity

    identity = judgement_identity()
    shared = _shared_layers(identity, (guard or {}).get("reply_judgement")) if guard else []
    out: dict[str, Any] = {}
    for task in tasks:
        judged_metrics = CRISIS_JUDGED[task]
        entry: dict[str, Any] = {
            **identity,
            "llm_judges": [j["name"] for j in judges or []],
            "metrics": "all" if judged_metrics is None else list(judged_metrics),
            "guarded_by": None if not guard else (guard.get("reply_judgement") or {}).get("layers"),
            "independent_of_guard": None if not guard else not shared,
        }
        if shared:
            entry["why_not_independent"] = (
                f"the guard in front of the endpoint blocked replies with the {' and '.join(shared)} layer of the "
                f"crisis judgement (same files and weights) that also decides {task} here"
            )
        out[task] = entry
    return out


def _shared_layers(judge: dict[str, Any], guard: dict[str, Any] | None) -> list[str]:
    """Layers that decide both the guard's blocks and the suite's judgement, with the same data."""
    if not guard:
        return ["unknown"]  # a guard that does not say how it judges cannot be shown independent
    shared = []
    for layer in sorted(set(judge.get("deciding_layers") or []) & set(guard.get("layers") or [])):
        if layer == "classifier":
            same = judge.get("classifier_weights_sha256") == guard.get("classifier_weights_sha256")
        else:
            files = ("patterns.yaml", "hotlines.yaml")
            same = all(judge["files_sha256"].get(f) == (guard.get("files_sha256") or {}).get(f) for f in files)
        if same:
            shared.append(layer)
    return shared


def mark_failed_tasks(record: dict[str, Any], task_errors: dict[str, str]) -> None:
    """A run whose tasks did not all finish is written, but marked: the gate, the leaderboard and
    ``baseline promote`` never take it for a complete run."""
    if task_errors:
        record["status"] = "incomplete"
        record["task_errors"] = dict(sorted(task_errors.items()))


def _index_into_leaderboard(run_dir: Path, console: Console) -> None:
    """The run record is the source of truth; the database is an index that `mindgate leaderboard
    --rebuild` can always recreate, so a failure here is reported, not fatal."""
    from harness.store import default_db_path, index_run

    try:
        index_run(None, run_dir)
    except (MindgateError, OSError, sqlite3.Error) as problem:
        console.print(
            f"[yellow]warning[/yellow]: run kept in {run_dir} but not indexed in {default_db_path()}: {problem}"
        )


def _build_record(
    run_id: str,
    config: EvalConfig,
    model: ResolvedModel,
    adapter: ResolvedAdapter | None,
    raw: dict[str, Any],
    samples: dict[str, list[dict[str, Any]]],
    started_at: float,
    wall: float,
) -> dict[str, Any]:
    group_subtasks = raw.get("group_subtasks", {})
    return {
        "schema_version": _record.SCHEMA_VERSION,
        "run_id": run_id,
        "status": "completed",
        "started_at_unix": started_at,
        "wall_time_s": wall,
        "config": config.as_record(),
        "backend": config.backend,
        "model": {
            "spec": model.spec,
            "name": model.name,
            "path": None if model.source == "openai-endpoint" else str(model.path),
            "content_hash": model.content_hash,
            "source": model.source,
        },
        "adapter": None
        if adapter is None
        else {
            "name": adapter.name,
            "path": str(adapter.path),
            "content_hash": adapter.content_hash,
            "declared_base": adapter.declared_base,
            "rank": adapter.rank,
            "training": adapter_training(adapter.path),
        },
        "tasks": {
            task: {
                "version": raw.get("versions", {}).get(task),
                "n_original": raw.get("n-samples", {}).get(task, {}).get("original"),
                "n_evaluated": len(rows),
                "items_hash": _record.items_hash(rows),
                **task_identity(raw.get("configs", {}).get(task, {})),
                "n_shot": raw.get("n-shot", {}).get(task),
            }
            for task, rows in samples.items()
        },
        "metrics": _record.leaf_metrics(samples, config.seed),
        "group_metrics": _record.group_metrics(samples, group_subtasks, raw.get("results", {}), config.seed),
        "analyses": task_analyses(samples, config.seed),
        "lm_eval": {
            key: raw.get(key)
            for key in (
                "results",
                "groups",
                "group_subtasks",
                "versions",
                "n-shot",
                "higher_is_better",
                "n-samples",
                "configs",
                "config",
                "lm_eval_version",
                "transformers_version",
                "max_length",
            )
        },
        "environment": _record.environment(),
    }
