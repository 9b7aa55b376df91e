"""`mindgate train dpo` on the bundled model with a tiny step count, on top of an SFT adapter
made with `mindgate train sft`: the DPO adapter trains, records its lineage (base -> sft -> dpo),
and ends at the gate; preference data must have been curated as preference pairs."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from harness.curate.pipeline import CurationConfig, curate
from harness.curate.records import ColumnSpec
from tests.conftest import RunCli
from tests.integration.test_train_sft import _config, _curated

pytestmark = pytest.mark.integration

PAIRS = [
    (
        "I feel like nobody listens to me.",
        "That sounds lonely. What happened that made you feel unheard?",
        "Just get over it.",
    ),
    (
        "I failed my driving test again.",
        "That is disappointing after all your practice. How are you feeling about it?",
        "Whatever, try harder.",
    ),
    ("My cat died yesterday.", "I'm so sorry. Losing a companion like that really hurts.", "It was only a cat."),
    (
        "I'm nervous about my new job.",
        "Starting something new is a lot. What part worries you most?",
        "Everyone is nervous, stop whining.",
    ),
]


def _curated_pairs(tmp_path: Path) -> Path:
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in PAIRS))
    config = CurationConfig(pii_engine="regex", crisis_filter=False, toxicity_filter=False, decontaminate=False)
    curate(source, ColumnSpec(kind="preference"), tmp_path / "curated-pairs", config)
    return tmp_path / "curated-pairs" / "curated.jsonl"


def test_dpo_on_an_sft_adapter_records_lineage_and_ends_at_the_gate(run_cli: RunCli, tmp_path: Path) -> None:
    sft = _config(tmp_path, _curated(tmp_path), gate=False, name="sft")
    assert run_cli("train", "sft", "--config", str(sft), timeout=1800).returncode == 0
    config = yaml.safe_load(_config(tmp_path, _curated_pairs(tmp_path)).read_text())
    config.update({"name": "dpo", "parent_adapter": str(tmp_path / "adapters" / "sft")})
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("train", "dpo", "--config", str(path), timeout=3600)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-3000:]
    adapter = tmp_path / "adapters" / "dpo"
    record = json.loads((adapter / "training.json").read_text())
    assert record["trainer"] == "dpo" and record["steps"] == 2 and record["pairs"] == len(PAIRS)
    assert record["parent_adapter"]["lineage"] == ["sft"]
    assert record["reference"] == "base + parent adapter"
    assert all(entry["loss"] > 0 for entry in record["loss_curve"])
    verdict = json.loads((adapter / "gate.json").read_text())
    assert verdict["exit_code"] == result.returncode
    # the gate's evaluation records where the adapter came from, and the leaderboard shows it
    with sqlite3.connect(os.environ["MINDGATE_DB"]) as conn:
        (lineage,) = conn.execute("SELECT adapter_lineage FROM runs WHERE run_id = ?", (verdict["run_id"],)).fetchone()
    assert json.loads(lineage) == ["sft", "dpo"]
    board = run_cli("leaderboard")
    assert board.returncode == 0 and "base → sft → dpo" in board.stdout


def test_dpo_refuses_data_that_was_not_curated_as_preference_pairs(run_cli: RunCli, tmp_path: Path) -> None:
    config = _config(tmp_path, _curated(tmp_path), gate=False, name="dpo")
    result = run_cli("train", "dpo", "--config", str(config), timeout=600)
    assert result.returncode == 2
    assert "DPO needs preference pairs" in " ".join(result.stderr.split())
