"""`make eval LIMIT=N` on the whole suite writes a run with every task, whatever N cuts.

A limit evaluates the first N items of every task, which cuts DSM-5 minimal pairs and invariance
groups; those metrics count complete units only and say how many were cut. LIMIT=2 runs in
`make test`; LIMIT=5 (it shares LIMIT=2's request cache, so it evaluates three new items per task)
and LIMIT=20, the README's quick check, are marked slow (`make test-slow`): `make test` had reached
its 20-minute budget."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

SUITE_TASKS = {
    "mh_mmlu_professional_psychology",
    "mh_mmlu_high_school_psychology",
    "mh_medqa_psychiatry",
    "mh_dsm5_diagnosis",
    "mh_dsm5_meets",
    "mh_crisis",
    "mh_empathy",
    "mh_toxicity",
    "mh_counsel_qa",
}


@pytest.fixture(scope="module")
def request_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("request-cache")


def make_eval(limit: int, runs: Path, request_cache: Path) -> dict:
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(runs), "MINDGATE_REQUEST_CACHE": str(request_cache)}
    result = subprocess.run(
        ["make", "--no-print-directory", "eval", f"LIMIT={limit}"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    (run,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    record: dict = json.loads((run / "run.json").read_text())
    return record


def check_complete_suite(record: dict, limit: int) -> None:
    assert record["status"] == "completed" and "task_errors" not in record
    assert set(record["tasks"]) == SUITE_TASKS
    for task, info in record["tasks"].items():
        assert info["n_evaluated"] == limit, task
        assert set(record["metrics"][task]), task
    cut = {
        (task, metric): estimate["units_cut"]
        for task in ("mh_dsm5_diagnosis", "mh_dsm5_meets")
        for metric, estimate in record["metrics"][task].items()
        if "units_cut" in estimate
    }
    assert cut and all(isinstance(count, int) for count in cut.values())
    # the first items are a case, its invariance variants, then its minimal pairs: a small limit cuts some
    assert any(count > 0 for count in cut.values()), cut


@pytest.mark.parametrize("limit", [2, pytest.param(5, marks=pytest.mark.slow)])
def test_make_eval_with_a_small_limit_writes_every_task_of_the_suite(
    limit: int, tmp_path: Path, request_cache: Path
) -> None:
    check_complete_suite(make_eval(limit, tmp_path / "runs", request_cache), limit)


@pytest.mark.slow  # about ten minutes on two cores: `make test-slow`
def test_make_eval_limit_20_writes_every_task_of_the_suite(tmp_path: Path, request_cache: Path) -> None:
    check_complete_suite(make_eval(20, tmp_path / "runs", request_cache), 20)
