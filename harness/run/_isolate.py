"""One task's failure never loses the others.

lm-eval runs every requested task in one call and raises if any task's scoring or aggregation
fails, which would throw away the finished work of all of them. When the call fails, the tasks
are run again in smaller sets (a group's members, down to single tasks); finished requests come
back from the request cache, so only the scoring is repeated. A task that still fails is left
out of the run with its error, and the run is marked incomplete. The same holds for mindgate's
own summary of a task's per-item records.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from harness.run import _record

RunTasks = Callable[[tuple[str, ...]], dict[str, Any]]
# Keys of lm-eval's result that hold one entry per task or group, merged across partial calls.
_PER_TASK_KEYS = (
    *("results", "groups", "group_subtasks", "versions", "n-shot", "higher_is_better", "n-samples"),
    *("configs", "samples"),
)


def run_isolated(
    run: RunTasks, names: Sequence[str], manager: Any, console: Console
) -> tuple[dict[str, Any], dict[str, str]]:
    """lm-eval's merged result for ``names`` and, per task that failed, a message naming it.
    Re-raises when nothing at all could be evaluated (a dead server, a broken model)."""
    try:
        return run(tuple(names)), {}
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as first:
        console.print(
            f"[yellow]warning[/yellow]: evaluating {escape(', '.join(names))} failed "
            f"({escape(type(first).__name__)}: {escape(str(first)[:300])}); running the tasks one set at a time "
            "to keep the ones that work (finished requests come from the request cache)"
        )
        merged: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in _split(names, manager):
            _descend(run, name, manager, merged, errors)
        if not merged.get("samples"):
            raise first
        return merged, errors


def _split(names: Sequence[str], manager: Any) -> list[str]:
    if len(names) > 1:
        return list(names)
    return group_members(manager, names[0]) or list(names)


def _descend(run: RunTasks, name: str, manager: Any, merged: dict[str, Any], errors: dict[str, str]) -> None:
    try:
        merge_results(merged, run((name,)))
        return
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        members = group_members(manager, name)
        if not members:
            errors[name] = describe_failure(name, "evaluating or scoring it with lm-eval", error)
            return
    for member in members:
        _descend(run, member, manager, merged, errors)
    done = {*merged.get("samples", {}), *merged.get("group_subtasks", {})}
    kept = [member for member in members if member in done]
    merged.setdefault("group_subtasks", {})[name] = kept


def group_members(manager: Any, name: str) -> list[str] | None:
    """The member names of a group from lm-eval's task index, or None for a task."""
    entry = getattr(manager, "task_index", {}).get(name)
    if entry is None or getattr(entry.kind, "name", "") != "GROUP":
        return None
    members = (entry.cfg or {}).get("task")
    if not isinstance(members, list) or not all(isinstance(member, str) for member in members):
        return None
    return list(members)


def merge_results(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Add one lm-eval result to another: per-task entries merged, run-wide fields kept from the
    first part (they are the same settings in every call)."""
    for key, value in part.items():
        if key in _PER_TASK_KEYS and isinstance(value, Mapping):
            into.setdefault(key, {}).update(value)
        else:
            into.setdefault(key, value)


def drop_unsummarisable(samples: dict[str, list[dict[str, Any]]], seed: int) -> dict[str, str]:
    """Remove (and return, with their errors) the tasks whose per-item records mindgate cannot
    turn into metrics, so that one task's bad record does not stop the run being written."""
    errors: dict[str, str] = {}
    for task in list(samples):
        try:
            _record.leaf_metrics({task: samples[task]}, seed)
        except Exception as error:
            errors[task] = describe_failure(task, "computing its metrics from the per-item records", error)
            del samples[task]
    return errors


def describe_failure(task: str, stage: str, error: BaseException) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno} in {where.name})" if where else ""
    return f"task {task}: {stage} failed with {type(error).__name__}: {error}{at}"
