"""`mindgate gate --model ...`: the gate evaluates what its rules need, floors first, on the real
bundled model against the committed baseline, and stops at the first floor that can no longer
pass. The bundled model fails the shipped crisis floors (in the baseline: 8 of 124 replies
harmful, 0 of 21 imminent-risk replies referring, 37% safe); the crisis file interleaves the risk
tiers, so the first chunk of five items (one of each tier) already shows a floor it cannot pass.
The stop needs nothing from the baseline but the item order and which items a metric counts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from harness.models import resolve_model
from harness.run import EvalConfig
from harness.run._lmeval import request_cache_path
from tests.conftest import RunCli

pytestmark = pytest.mark.integration

BASELINE = "smollm2-135m-suite-v4"  # the committed baseline, made in another checkout
TIMEOUT = 3600  # a guard only: a few minutes on an idle machine, far longer when it is shared
SHIPPED = yaml.safe_load((Path(__file__).parents[2] / "rubrics" / "gate.yaml").read_text())["rules"]


def shipped(rule_id: str) -> dict:
    return next(rule for rule in SHIPPED if rule["id"] == rule_id)


def rules(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "allow_partial_runs": True, "rules": list(entries)}))
    return path


def only_run(tmp_path: Path) -> Path:
    (run,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    return run


def cached_requests(cache_home: Path) -> int:
    """Finished requests in the request cache of the bundled model (hf backend, default settings)."""
    path = Path(str(request_cache_path(EvalConfig(), resolve_model("smollm2-135m-instruct"), None)) + "_rank0.db")
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM unnamed").fetchone()[0])


@pytest.mark.slow  # minutes here: `make test-slow` (make test stays under 20 min)
def test_an_unsafe_candidate_is_stopped_at_the_first_floor_it_can_no_longer_pass(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "request-cache"
    monkeypatch.setenv("MINDGATE_REQUEST_CACHE", str(cache))
    floors = [rule for rule in SHIPPED if rule["type"] == "floor" and rule["task"] == "mh_crisis"]
    path = rules(tmp_path, *floors, shipped("medqa-psychiatry-accuracy"))
    args = ("gate", "--baseline", BASELINE, "--model", "smollm2-135m-instruct", "--rules", str(path))
    args += ("--limit", "20", "--chunk-size", "5")
    env = {"MINDGATE_REQUEST_CACHE": str(cache)}
    first = run_cli(*args, env=env, timeout=TIMEOUT)
    assert first.returncode == 1, first.stdout[-2000:] + first.stderr[-3000:]
    assert "Stopped after 5 of 20 items of mh_crisis" in first.stdout
    assert "NOT_EVALUATED  medqa-psychiatry-accuracy" in first.stdout

    run = only_run(tmp_path)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "stopped_by_gate"
    stop = record["gate_stop"]
    assert (stop["task"], stop["items_seen"], stop["items_planned"]) == ("mh_crisis", 5, 20)
    assert stop["rule"] in {rule["id"] for rule in floors} and stop["rule"] in stop["failed_floors"]
    for rule_id in stop["failed_floors"]:  # the output names every floor that stopped it
        assert f"FAIL           {rule_id}" in first.stdout
    assert stop["tasks_not_evaluated"] == ["mh_medqa_psychiatry"]
    assert set(record["tasks"]) == {"mh_crisis"} and record["tasks"]["mh_crisis"]["n_evaluated"] == 5
    (verdict,) = (run / "verdicts").glob("*.json")
    assert json.loads(verdict.read_text())["verdict"] == "reject"

    # the partial run is never a candidate for the gate as a full run
    again = run_cli("gate", "--candidate", str(run), "--baseline", BASELINE, "--rules", str(path))
    assert again.returncode == 2 and "stopped_by_gate" in again.stderr

    # resumable: the same command again finds every request of the first five items in the cache
    requests = cached_requests(cache)
    assert requests >= 5
    second = run_cli(*args, env=env, timeout=TIMEOUT)
    assert second.returncode == 1 and "Stopped after 5 of 20 items of mh_crisis" in second.stdout
    assert cached_requests(cache) == requests


def test_a_candidate_that_keeps_its_floors_runs_the_rest_and_gets_the_usual_verdict(
    run_cli: RunCli, tmp_path: Path
) -> None:
    reachable = {**shipped("crisis-safe-replies"), "id": "crisis-any-safe-reply", "min_ci_low": 0.0}
    path = rules(tmp_path, reachable, shipped("medqa-psychiatry-accuracy"))
    result = run_cli(
        "gate",
        *("--baseline", BASELINE, "--model", "smollm2-135m-instruct", "--rules", str(path)),
        *("--limit", "6", "--chunk-size", "3"),
        timeout=TIMEOUT,
    )
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-3000:]
    assert "mh_crisis: 3 of 6 items, every floor can still pass" in result.stderr
    assert "PASS           crisis-any-safe-reply" in result.stdout
    assert "medqa-psychiatry-accuracy" in result.stdout and "NOT_EVALUATED" not in result.stdout
    record = json.loads((only_run(tmp_path) / "run.json").read_text())
    assert record["status"] == "completed"
    assert {task: info["n_evaluated"] for task, info in record["tasks"].items()} == {
        "mh_crisis": 6,
        "mh_medqa_psychiatry": 6,
    }
