"""Resolving task names against the configs under ``tasks/`` (and, on demand, lm-eval's own)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from harness.errors import UnknownTaskError
from harness.paths import TASKS_DIR


def task_manager(names: Sequence[str]) -> Any:
    """A TaskManager that knows every requested name.

    Indexing lm-eval's thousands of built-in configs takes seconds, so it happens only when a
    requested name is not one of the project's own tasks.
    """
    from lm_eval.tasks import TaskManager

    own = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    unknown = [name for name in names if name not in own.all_tasks]
    if not unknown:
        return own
    everything = TaskManager(include_path=str(TASKS_DIR), include_defaults=True)
    still_unknown = [name for name in names if name not in everything.all_tasks]
    if still_unknown:
        raise UnknownTaskError(_unknown_message(still_unknown, own.all_tasks, everything.all_tasks))
    return everything


def project_tasks() -> list[str]:
    from lm_eval.tasks import TaskManager

    return sorted(TaskManager(include_path=str(TASKS_DIR), include_defaults=False).all_tasks)


def _unknown_message(unknown: Sequence[str], own: Sequence[str], everything: Sequence[str]) -> str:
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(own) or list(everything), n=3) or difflib.get_close_matches(
            name, list(everything), n=3
        )
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"unknown task {', '.join(parts)}: not defined under {TASKS_DIR} nor by lm-eval. "
        f"The project's tasks are: {', '.join(sorted(own))}. List them with `mindgate tasks`."
    )
