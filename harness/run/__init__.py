"""Running an evaluation and writing its run record."""

from harness.run._config import DEFAULT_SUITE, EvalConfig
from harness.run._evaluate import SUPPORTED_BACKENDS, evaluate
from harness.run._identity import SOURCE_IDENTITY_FIELDS
from harness.run._record import RECORD_NAME, load_run
from harness.run._served import serve
from harness.run._tasks import project_tasks

__all__ = [
    "DEFAULT_SUITE",
    "RECORD_NAME",
    "SOURCE_IDENTITY_FIELDS",
    "SUPPORTED_BACKENDS",
    "EvalConfig",
    "evaluate",
    "load_run",
    "project_tasks",
    "serve",
]
