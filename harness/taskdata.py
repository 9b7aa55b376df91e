"""Loading the data files that task configs under ``tasks/`` ship.

Task configs point lm-eval's ``custom_dataset`` hook at a loader made here, so each task reads
its JSONL files from its own folder (whatever the working directory) and every malformed row is
reported with its file and line instead of surfacing later as a template error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import DataFormatError


def read_jsonl(path: Path, required_fields: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Read a JSONL file; raise DataFormatError naming the file, line and field on bad rows."""
    if not path.is_file():
        raise DataFormatError(f"{path}: data file is missing (rebuild the task data or restore it from git)")
    required = tuple(required_fields)
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{line_number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataFormatError(f"{path}:{line_number}: expected a JSON object, got {type(row).__name__}")
            missing = [name for name in required if name not in row]
            if missing:
                raise DataFormatError(f"{path}:{line_number}: missing field(s) {', '.join(missing)}")
            rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def jsonl_splits_loader(
    data_dir: Path,
    required_fields: Iterable[str] = (),
    validate_row: Callable[[dict[str, Any], str], None] | None = None,
) -> Callable[..., Any]:
    """Build the function a task YAML names as ``custom_dataset``.

    lm-eval calls it with the task's ``metadata`` and ``dataset_kwargs`` as keyword arguments; the
    ``splits`` keyword maps split names to JSONL file names inside ``data_dir``.
    ``validate_row(row, where)`` may raise DataFormatError for task-specific checks.
    """
    required = tuple(required_fields)

    def load(splits: Mapping[str, str] | None = None, **_metadata: Any) -> Any:
        import datasets  # heavy import, only when a task is actually built

        if not splits:
            raise DataFormatError(f"task config for {data_dir.parent.name}: dataset_kwargs.splits is empty")
        loaded = {}
        for split, file_name in splits.items():
            path = data_dir / file_name
            rows = read_jsonl(path, required)
            if validate_row is not None:
                for index, row in enumerate(rows, start=1):
                    validate_row(row, f"{path}:{index}")
            loaded[split] = datasets.Dataset.from_list(rows)
        return datasets.DatasetDict(loaded)

    return load
