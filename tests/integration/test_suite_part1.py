"""Clinical MCQ and DSM-5 consistency tasks on the real bundled model (tiny limits)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, RunCli

pytestmark = pytest.mark.integration


def test_our_mmlu_tasks_equal_lm_evals_own_configs_on_the_same_data(default_model_dir: Path) -> None:
    spec = importlib.util.spec_from_file_location("crosscheck_mmlu", PROJECT_DIR / "scripts" / "crosscheck_mmlu.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.crosscheck(default_model_dir, limit=8, chat_template=False)
    assert set(report) == {"mh_mmlu_professional_psychology_letter", "mh_mmlu_professional_psychology"}
    for row in report.values():
        assert row["n"] == 8
        assert row["acc_ours"] == row["acc_lm_eval"]
        assert row["max_abs_loglikelihood_difference"] < 1e-5


def test_dsm5_consistency_reports_every_metric_with_n_and_ci(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("eval", "--tasks", "mh_dsm5_consistency", "--limit", "14")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    record = json.loads((run_dir / "run.json").read_text())
    meets = record["metrics"]["mh_dsm5_meets"]
    assert set(meets) == {"acc", "sensitivity", "ppv", "specificity", "pair_consistency", "invariance_meets"}
    items = [json.loads(line) for line in (run_dir / "samples" / "mh_dsm5_meets.jsonl").read_text().splitlines()]
    positives = sum(item["doc"]["meets_criteria"] for item in items)
    assert meets["sensitivity"]["n"] == positives  # sensitivity counts only cases meeting criteria
    assert meets["specificity"]["n"] == len(items) - positives
    for estimate in meets.values():
        if estimate["n"]:
            assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]
    # lm-eval's own aggregation and the run summary call the same functions.
    for name in ("sensitivity", "specificity", "pair_consistency"):
        reported = record["lm_eval"]["results"]["mh_dsm5_meets"][f"{name},none"]
        assert meets[name]["value"] == pytest.approx(reported, nan_ok=True)

    diagnosis = [
        json.loads(line) for line in (run_dir / "samples" / "mh_dsm5_diagnosis.jsonl").read_text().splitlines()
    ]
    first = diagnosis[0]
    assert first["doc"]["vignette"] and first["doc"]["case"]["present"]  # vignette and the criteria behind it
    assert first["invariance_label"]["predicted_label"]  # the model's choice
    assert "mh_dsm5_diagnosis" in result.stderr and "pair_consistency" in result.stderr
