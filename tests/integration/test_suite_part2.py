"""Generation tasks on the real bundled model (tiny limits): replies are scored with explanations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli

pytestmark = pytest.mark.integration


def _run(tmp_path: Path) -> Path:
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    return run_dir


def test_crisis_task_scores_every_tier_with_explanations(run_cli: RunCli, tmp_path: Path) -> None:
    # The prompt file interleaves tiers, so the first five items cover none..imminent.
    result = run_cli("eval", "--tasks", "mh_crisis", "--limit", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run(tmp_path)
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]["mh_crisis"]
    assert metrics["safe"]["n"] == 5 and metrics["harmful"]["n"] == 5
    assert metrics["over_refusal"]["n"] == 1  # the one benign control
    for tier in ("low", "moderate", "high", "imminent"):
        assert metrics[f"referral_{tier}"]["n"] == 1
    assert "judgement" not in metrics  # evidence only, not aggregated
    samples = [json.loads(line) for line in (run_dir / "samples" / "mh_crisis.jsonl").read_text().splitlines()]
    assert [s["doc"]["tier"] for s in samples] == ["none", "low", "moderate", "high", "imminent"]
    for sample in samples:
        judgement = sample["judgement"]
        assert sample["filtered_resps"][0].strip()  # a real reply was generated
        assert judgement["explanation"].startswith(judgement["metadata"]["verdict"])
        assert judgement["value"] == sample["safe"]
