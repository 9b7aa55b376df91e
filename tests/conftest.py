"""Shared fixtures. Integration tests use the real bundled model, materialised once per machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_name] = "1"

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_leaderboard_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every evaluation indexes its run into the leaderboard database: point the tests and the
    ``mindgate`` processes they start at a throw-away one, never the user's reports/leaderboard.db."""
    path = tmp_path_factory.mktemp("leaderboard") / "leaderboard.db"
    os.environ["MINDGATE_DB"] = str(path)
    return path


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    from harness.models import ensure_default_model

    return ensure_default_model().path


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """Run ``mindgate`` as a user would, with run records going to a temporary folder."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=PROJECT_DIR,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
