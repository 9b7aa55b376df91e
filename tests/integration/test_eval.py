"""`mindgate eval` end to end on the real bundled model, and its errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, RunCli

pytestmark = pytest.mark.integration

TASK = "mh_mmlu_professional_psychology"


def _only_run(runs: Path) -> Path:
    found = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert len(found) == 1, found
    return found[0]


def _samples(run_dir: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples" / f"{task}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> Path:
    """A LoRA adapter for the bundled model whose B matrices are random, so it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    out = tmp_path_factory.mktemp("adapter") / "random-lora"
    get_peft_model(base, config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def foreign_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained for a different (tiny, randomly initialised) Llama model."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=49152,
        )
    )
    out = tmp_path_factory.mktemp("adapter") / "foreign-lora"
    get_peft_model(tiny, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(out)
    return out


def test_eval_writes_a_complete_run_record(run_cli: RunCli, tmp_path: Path, default_model_dir: Path) -> None:
    result = run_cli("eval", "--tasks", TASK, "--limit", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _only_run(tmp_path / "runs")
    record = json.loads((run_dir / "run.json").read_text())

    manifest = json.loads((default_model_dir / "mindgate-manifest.json").read_text())
    assert record["model"]["content_hash"] == manifest["content_hash"]
    assert record["model"]["source"] == "bundled"
    assert record["adapter"] is None
    assert record["config"]["limit"] == 4 and record["config"]["apply_chat_template"] is True
    assert record["tasks"][TASK]["n_evaluated"] == 4
    assert record["tasks"][TASK]["n_original"] == 612
    assert len(record["tasks"][TASK]["items_hash"]) == 64
    assert record["wall_time_s"] > 0
    for package in ("torch", "transformers", "lm_eval", "peft", "mindgate"):
        assert package in record["environment"]["packages"]

    accuracy = record["metrics"][TASK]["acc"]
    assert accuracy["n"] == 4
    assert accuracy["ci_low"] <= accuracy["value"] <= accuracy["ci_high"]
    # Our figure is computed from the per-sample records; it must equal lm-eval's own.
    assert accuracy["value"] == pytest.approx(record["lm_eval"]["results"][TASK]["acc,none"])

    samples = _samples(run_dir, TASK)
    assert [s["doc"]["id"] for s in samples] == [f"mmlu-professional_psychology-test-{i:04d}" for i in range(4)]
    assert all("<|im_start|>assistant" in s["arguments"][0][0] for s in samples)  # chat template applied
    assert TASK in result.stderr and "95% CI" in result.stderr


def test_adapter_is_applied_and_recorded(
    run_cli: RunCli, tmp_path: Path, lora_adapter: Path, default_model_dir: Path
) -> None:
    base = run_cli("eval", "--tasks", TASK, "--limit", "2", "--no-use-cache")
    assert base.returncode == 0, base.stderr[-3000:]
    with_adapter = run_cli("eval", "--tasks", TASK, "--limit", "2", "--adapter", f"probe={lora_adapter}")
    assert with_adapter.returncode == 0, with_adapter.stderr[-3000:]
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    records = {json.loads((p / "run.json").read_text())["adapter"] is not None: p for p in runs}
    adapter_run = json.loads((records[True] / "run.json").read_text())
    assert adapter_run["adapter"]["name"] == "probe"
    assert adapter_run["adapter"]["rank"] == 4
    assert len(adapter_run["adapter"]["content_hash"]) == 64

    def loglikelihoods(run_dir: Path) -> list[float]:
        return [resp[0] for s in _samples(run_dir, TASK) for resp in s["filtered_resps"]]

    # A LoRA with non-zero B must move every answer's log-likelihood.
    for base_ll, adapter_ll in zip(loglikelihoods(records[False]), loglikelihoods(records[True]), strict=True):
        assert abs(base_ll - adapter_ll) > 1e-3


def test_unknown_task_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("eval", "--tasks", "mh_mmlu_profesional_psychology")
    assert result.returncode == 2
    assert "unknown task 'mh_mmlu_profesional_psychology'" in result.stderr
    assert "did you mean mh_mmlu_professional_psychology" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_model_path_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("eval", "--model", str(tmp_path / "no-such-model"), "--tasks", TASK)
    assert result.returncode == 2
    assert "no such directory" in result.stderr and "Traceback" not in result.stderr


def test_hub_id_offline_is_a_clear_error(run_cli: RunCli) -> None:
    result = run_cli("eval", "--model", "someone/not-cached-model", "--tasks", TASK)
    assert result.returncode == 2
    assert "HF_HUB_OFFLINE=1" in result.stderr and "Traceback" not in result.stderr


def test_adapter_for_another_base_model_is_refused(
    run_cli: RunCli, tmp_path: Path, foreign_adapter: Path, default_model_dir: Path
) -> None:
    result = run_cli("eval", "--tasks", TASK, "--limit", "2", "--adapter", str(foreign_adapter))
    assert result.returncode == 2
    assert "does not fit base model" in result.stderr
    assert "q_proj" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def _can_drop_network() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_drop_network(), reason="needs `unshare --net` (root or user namespaces)")
def test_eval_needs_no_network_at_all(tmp_path: Path, default_model_dir: Path) -> None:
    """Run in a network namespace with no interfaces: any attempt to reach a hub would fail."""
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [
            "unshare",
            "--net",
            sys.executable,
            "-m",
            "harness",
            "eval",
            "--tasks",
            TASK,
            "--limit",
            "2",
            "--no-use-cache",
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((_only_run(tmp_path / "runs") / "run.json").read_text())["tasks"][TASK]["n_evaluated"] == 2
