"""Baselines: run directories copied into ``reports/baselines/<name>/`` and kept in git, so that
the gate compares every candidate with a fixed, reviewable run. Its git history versions it."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

from harness.errors import MindgateError
from harness.paths import baselines_dir
from harness.run import RECORD_NAME
from harness.run._portable import portable_path, portable_record, portable_text
from harness.store._db import utc_now
from harness.store._index import VERDICTS_DIR
from harness.store._rundir import read_run

PROVENANCE_NAME = "BASELINE.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class BaselineError(MindgateError):
    """A baseline that cannot be promoted: a bad name, an unfinished run, an existing baseline."""


def promote_baseline(run_dir: Path | str, name: str, root: Path | None = None, force: bool = False) -> Path:
    """Copy a completed run to ``<root>/<name>/`` (default root: ``reports/baselines``) with a
    provenance file, atomically: the baseline is either the old copy or the new one, never half.
    An existing baseline is replaced only with ``force``."""
    if not _NAME.fullmatch(name):
        raise BaselineError(
            f"baseline name {name!r}: use letters, digits, '.', '_' and '-' (up to 100, not starting with '.' or '-')"
        )
    run = read_run(run_dir)
    if run.record.get("status") != "completed":
        raise BaselineError(
            f"{run.run_dir / RECORD_NAME}: status is {run.record.get('status')!r}, not 'completed'; "
            "only a finished run can be a baseline"
        )
    root = root or baselines_dir()
    final = root / name
    if final.exists() and not force:
        raise BaselineError(f"{final}: a baseline of that name exists; pass --force to replace it")
    if final.exists() and final.resolve() == run.run_dir.resolve():
        raise BaselineError(f"{final}: this is the baseline itself; nothing to promote")
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging, retired = root / f".partial-{name}-{token}", root / f".replaced-{name}-{token}"
    try:
        # Verdicts on the run as a candidate stay with the run; a baseline is a reference.
        shutil.copytree(run.run_dir, staging, ignore=shutil.ignore_patterns(".*", VERDICTS_DIR))
        # A baseline is committed and read on other machines: no path of this one in it (records
        # written before runs were portable are made so here; their content is unchanged).
        record = portable_record(run.record)
        (staging / RECORD_NAME).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for log in staging.glob("*.log"):
            log.write_text(portable_text(log.read_text(encoding="utf-8", errors="replace")), encoding="utf-8")
        source = portable_path(run.run_dir) or f"a run directory outside the repository ({run.run_dir.name})"
        provenance = {"name": name, "run_id": run.run_id, "source": source, "promoted": utc_now()}
        (staging / PROVENANCE_NAME).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            os.replace(final, retired)
        os.replace(staging, final)
    except BaseException:
        if retired.exists() and not final.exists():
            os.replace(retired, final)  # put the old baseline back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return final
