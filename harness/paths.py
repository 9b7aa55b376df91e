"""Where things live: the project's folders and the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
TASKS_DIR = PROJECT_DIR / "tasks"
RUBRICS_DIR = PROJECT_DIR / "rubrics"
REPORTS_DIR = PROJECT_DIR / "reports"


def mindgate_home() -> Path:
    """The cache root: ``$MINDGATE_HOME``, else ``$XDG_CACHE_HOME/mindgate``, else ``~/.cache/mindgate``."""
    explicit = os.environ.get("MINDGATE_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "mindgate").resolve()


def request_cache_dir() -> Path:
    """Finished model requests, for resuming: ``$MINDGATE_REQUEST_CACHE``, else under the cache root."""
    explicit = os.environ.get("MINDGATE_REQUEST_CACHE")
    return Path(explicit).expanduser().resolve() if explicit else mindgate_home() / "request-cache"


def runs_dir() -> Path:
    """Run records: ``$MINDGATE_RUNS_DIR`` or ``reports/runs`` in the project."""
    explicit = os.environ.get("MINDGATE_RUNS_DIR")
    return Path(explicit).expanduser().resolve() if explicit else REPORTS_DIR / "runs"


def baselines_dir() -> Path:
    """Promoted baseline runs, kept in git: ``$MINDGATE_BASELINES_DIR`` or ``reports/baselines``."""
    explicit = os.environ.get("MINDGATE_BASELINES_DIR")
    return Path(explicit).expanduser().resolve() if explicit else REPORTS_DIR / "baselines"


def html_reports_dir() -> Path:
    """Where ``mindgate report`` writes by default: ``reports/html``."""
    return REPORTS_DIR / "html"
