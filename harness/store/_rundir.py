"""Reading a finished run directory back: its record and its per-item samples, keyed by item.

Both the leaderboard index and run comparisons read runs through here, so an item has one key
everywhere: the document's own id field when the task has one, else the document hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from harness.errors import DataFormatError, MindgateError
from harness.run import RECORD_NAME
from harness.taskdata import read_jsonl

# Our tasks give every document a stable id; lm-eval's doc_id is only a position in the split.
ITEM_ID_FIELDS = ("id", "item_id")


class RunRecordError(MindgateError):
    """A run directory, run record or samples file that is missing or malformed."""


@dataclass(frozen=True)
class StoredRun:
    """One run as written by ``mindgate eval``: ``run.json`` plus ``samples/<task>.jsonl``."""

    run_dir: Path
    record: Mapping[str, Any]
    samples: Mapping[str, list[dict[str, Any]]]

    @property
    def run_id(self) -> str:
        return str(self.record.get("run_id") or self.run_dir.name)

    def task_info(self, task: str) -> Mapping[str, Any]:
        info: dict[str, Any] = dict(self.record.get("tasks", {}).get(task, {}))
        config = self.record.get("lm_eval", {}).get("configs", {}).get(task)
        if config is not None:
            # Recomputed from the stored config, so that every record, whenever and wherever it
            # was written, is hashed the same way: older records hashed the config with the memory
            # addresses of function reprs and the absolute path of the task's YAML file in it.
            from harness.run._identity import config_hash

            info["config_hash"] = config_hash(config)
        return info

    def items(self, task: str) -> dict[str, dict[str, Any]]:
        """The task's sample rows keyed by item key; a key seen twice is an error, not a merge."""
        keyed: dict[str, dict[str, Any]] = {}
        path = self.run_dir / "samples" / f"{task}.jsonl"
        for index, row in enumerate(self.samples[task], start=1):
            key = item_key(row, where=f"{path} row {index}")
            if key in keyed:
                raise RunRecordError(
                    f"{path} row {index}: item key {key!r} appears twice; each document must be logged once per task"
                )
            keyed[key] = row
        return keyed


def item_key(row: Mapping[str, Any], where: str = "sample row") -> str:
    doc = row.get("doc")
    if isinstance(doc, Mapping):
        for name in ITEM_ID_FIELDS:
            if doc.get(name) not in (None, ""):
                return str(doc[name])
    if row.get("doc_hash"):
        return str(row["doc_hash"])
    raise RunRecordError(f"{where}: the row has no doc.id, doc.item_id or doc_hash, so it cannot be paired or stored")


def read_run(run_dir: Path | str) -> StoredRun:
    """Load a run directory; every task named in ``run.json`` must have its samples file."""
    run_dir = Path(run_dir)
    record_path = run_dir / RECORD_NAME
    if not run_dir.is_dir():
        raise RunRecordError(f"{run_dir}: no such run directory; list the runs with `ls reports/runs`")
    if not record_path.is_file():
        raise RunRecordError(f"{record_path}: missing; a run directory without it is incomplete, re-run the evaluation")
    record = _read_json(record_path)
    tasks = record.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        raise RunRecordError(f"{record_path}: field 'tasks' is missing or empty")
    samples = {task: _read_jsonl(run_dir / "samples" / f"{task}.jsonl") for task in tasks}
    return StoredRun(run_dir=run_dir, record=record, samples=samples)


def is_number(value: Any) -> TypeGuard[int | float]:
    """A per-item score that can be averaged: a finite int or float (None means 'not counted')."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RunRecordError(f"{path}: not valid JSON ({error}); the run record is damaged") from None
    if not isinstance(payload, dict):
        raise RunRecordError(f"{path}: expected a JSON object at the top level")
    return payload


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise RunRecordError(f"{path}: missing; run.json lists this task but its samples were not written")
    try:
        return read_jsonl(path)
    except DataFormatError as error:
        raise RunRecordError(str(error)) from None
