"""Running an evaluation and writing its run record."""

from harness.run._config import DEFAULT_SUITE, EvalConfig
from harness.run._evaluate import SUPPORTED_BACKENDS, attach_judgements, evaluate, mark_failed_tasks, store_run
from harness.run._evaluate import _build_record as build_record
from harness.run._identity import SOURCE_IDENTITY_FIELDS
from harness.run._isolate import group_members, merge_results, run_isolated
from harness.run._record import RECORD_NAME, load_run
from harness.run._served import serve
from harness.run._tasks import project_tasks

__all__ = [
    "DEFAULT_SUITE",
    "RECORD_NAME",
    "SOURCE_IDENTITY_FIELDS",
    "SUPPORTED_BACKENDS",
    "EvalConfig",
    "attach_judgements",
    "build_record",
    "evaluate",
    "group_members",
    "load_run",
    "mark_failed_tasks",
    "merge_results",
    "project_tasks",
    "run_isolated",
    "serve",
    "store_run",
]
