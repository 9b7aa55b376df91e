"""`mindgate pipeline` end to end on the bundled model with tiny step counts: curate -> SFT -> DPO,
each policy stage gated; killed in the middle of DPO, the rerun skips what finished and resumes
DPO from its last checkpoint; a third run does nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR, RunCli
from tests.integration.test_train_dpo import PAIRS
from tests.integration.test_train_sft import ROWS, medqa_rules

pytestmark = pytest.mark.integration  # about a minute: tiny steps, one task of four items per gate

TINY = {"batch_size": 2, "max_length": 96, "logging_steps": 1, "save_steps": 1, "eval_limit": 4}
UNFILTERED = {"pii_engine": "regex", "crisis_filter": False, "toxicity_filter": False, "decontaminate": False}


def _pipeline(tmp_path: Path) -> Path:
    sft_rows = tmp_path / "sft.jsonl"
    sft_rows.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in ROWS))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in PAIRS))
    rules = medqa_rules(tmp_path)
    # The tiny data is curated without the (slow to load) harm and toxicity filters, so the
    # trainers must be told that people vetted it.
    trainer = {**TINY, "gate_rules": str(rules), "allow_unfiltered_data": True}
    config = {
        "name": "tiny",
        "output_dir": str(tmp_path / "pipelines"),
        "report_to": "none",
        "continue_on_reject": True,  # the test is about the mechanics; a verdict either way is fine
        "stages": [
            {"name": "curate-sft", "kind": "curate", "input": str(sft_rows), "set": UNFILTERED},
            {"name": "curate-dpo", "kind": "curate", "input": str(pairs), "set": {**UNFILTERED, "kind": "preference"}},
            {"name": "sft", "kind": "sft", "set": {**trainer, "data": "@curate-sft", "max_steps": 2}},
            {"name": "dpo", "kind": "dpo", "set": {**trainer, "data": "@curate-dpo", "max_steps": 3}},
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_two_stage_pipeline_runs_gated_and_resumes_after_a_kill(run_cli: RunCli, tmp_path: Path) -> None:
    path = _pipeline(tmp_path)
    root = tmp_path / "pipelines" / "tiny"
    checkpoint = root / "adapters" / "dpo.checkpoints" / "checkpoint-1" / "trainer_state.json"
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "pipeline", "--config", str(path)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 3000
    while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.kill()  # a crash during DPO, after its first checkpoint
    process.wait()
    assert checkpoint.is_file()
    state = json.loads((root / "pipeline.json").read_text())
    assert state["stages"]["sft"]["status"] in ("accepted", "rejected")
    assert state["stages"]["dpo"]["status"] == "running"
    assert not (root / "adapters" / "dpo" / "adapter_model.safetensors").exists()

    again = run_cli("pipeline", "--config", str(path), timeout=3000)
    assert again.returncode in (0, 1), again.stdout[-2000:] + again.stderr[-3000:]
    lines = dict(
        line.split(": ", 1) for line in again.stdout.splitlines() if line.startswith(("curate-", "sft:", "dpo:"))
    )
    assert lines["curate-sft"].startswith("skipped-curated") and lines["curate-dpo"].startswith("skipped-curated")
    assert lines["sft"].startswith("skipped-") and lines["dpo"].split(" ")[0] in ("accepted", "rejected")
    assert "resuming from" in again.stderr and "checkpoint-" in again.stderr

    sft, dpo = root / "adapters" / "sft", root / "adapters" / "dpo"
    record = json.loads((dpo / "training.json").read_text())
    assert record["steps"] == 3 and record["trainer"] == "dpo"
    assert record["parent_adapter"]["name"] == "sft"  # continued from the previous stage
    sft_gate = json.loads((sft / "gate.json").read_text())
    dpo_gate = json.loads((dpo / "gate.json").read_text())
    if sft_gate["accepted"]:  # gated against the previous accepted stage's evaluation
        assert dpo_gate["baseline_run_id"] == sft_gate["run_id"]
    else:
        baseline = PROJECT_DIR / "reports" / "baselines" / "smollm2-135m-suite-v4" / "run.json"
        assert dpo_gate["baseline_run_id"] == json.loads(baseline.read_text())["run_id"]
    state = json.loads((root / "pipeline.json").read_text())
    assert state["stages"]["dpo"]["attempts"] == 2 and state["stages"]["sft"]["attempts"] == 1

    third = run_cli("pipeline", "--config", str(path), timeout=600)
    assert third.returncode == again.returncode
    assert all(
        line.split(": ", 1)[1].startswith("skipped-")
        for line in third.stdout.splitlines()
        if line.startswith(("curate-", "sft:", "dpo:"))
    )
    assert json.loads((root / "pipeline.json").read_text()) == state  # nothing ran again
