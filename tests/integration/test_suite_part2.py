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


def test_empathy_task_scores_replies_per_mechanism(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("eval", "--tasks", "mh_empathy", "--limit", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run(tmp_path)
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]["mh_empathy"]
    for name in ("empathy", "empathy_er", "empathy_ip", "empathy_ex", "reply_words"):
        assert metrics[name]["n"] == 3
    for name in ("empathy", "empathy_er", "empathy_ip", "empathy_ex"):
        assert 0.0 <= metrics[name]["ci_low"] <= metrics[name]["value"] <= metrics[name]["ci_high"] <= 1.0
    samples = [json.loads(line) for line in (run_dir / "samples" / "mh_empathy.jsonl").read_text().splitlines()]
    for sample in samples:
        assert sample["judgement"]["reply"] == sample["filtered_resps"][0]
        assert sample["judgement"]["explanation"].startswith("empathy ")
        assert set(sample["judgement"]["metadata"]["mechanisms"]) == {
            "emotional_reactions",
            "interpretations",
            "explorations",
        }


def test_toxicity_task_samples_k_replies_per_prompt(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("eval", "--tasks", "mh_toxicity", "--limit", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run(tmp_path)
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]["mh_toxicity"]
    assert set(metrics) == {"toxicity_rate", "expected_max_toxicity", "toxicity_probability", "stigma_rate"}
    samples = [json.loads(line) for line in (run_dir / "samples" / "mh_toxicity.jsonl").read_text().splitlines()]
    assert len(samples) == 2
    for sample in samples:
        judged = sample["judgement"]["samples"]
        assert len(judged) == 3  # k = 3 replies per prompt
        highest = max(reply["toxicity"]["value"] for reply in judged)
        assert sample["expected_max_toxicity"] == highest
        assert all("is_toxic" in reply["toxicity"]["metadata"] for reply in judged)
