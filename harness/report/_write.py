"""Building a report file: gather, render, and write it atomically, so that a reader never sees
half a page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.gate import DEFAULT_RULES_PATH
from harness.paths import html_reports_dir
from harness.report._data import WORST_SAMPLES, gather_report
from harness.report._html import render_report

_MAX_NAMED = 2  # run ids spelled out in a default file name; more are counted


def build_report(
    run_dirs: Sequence[Path | str],
    baseline_dir: Path | str | None = None,
    out: Path | None = None,
    rules_path: Path | str = DEFAULT_RULES_PATH,
    samples_per_task: int = WORST_SAMPLES,
) -> Path:
    """Gather, render and write the report; returns where it was written (default:
    ``reports/html/...``, see ``default_report_path``)."""
    data = gather_report(run_dirs, baseline_dir, rules_path, samples_per_task)
    path = out or default_report_path([run.run_id for run in data.runs])
    return write_atomically(path, render_report(data))


def default_report_path(run_ids: Sequence[str], folder: Path | None = None) -> Path:
    """``reports/html/<run>.html`` for one run, ``compare-<baseline>-<run>.html`` for two, and
    ``compare-<baseline>-<run>-and-<k>-more.html`` beyond (file names have a length limit)."""
    if not run_ids:
        raise ValueError("a report needs at least one run")
    folder = folder or html_reports_dir()
    if len(run_ids) == 1:
        return folder / f"{_safe(run_ids[0])}.html"
    name = "compare-" + "-".join(_safe(run_id) for run_id in run_ids[:_MAX_NAMED])
    if len(run_ids) > _MAX_NAMED:
        name += f"-and-{len(run_ids) - _MAX_NAMED}-more"
    return folder / f"{name}.html"


def write_atomically(path: Path, text: str) -> Path:
    """Write to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _safe(run_id: str) -> str:
    """A run id as a file-name part: anything but letters, digits, '.', '_' and '-' becomes '-'."""
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in run_id).strip(".") or "run"
