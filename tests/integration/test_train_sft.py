"""`mindgate train sft` on the bundled model with a tiny step count: curated data in, a LoRA
adapter out (loss logged, weights changed, loss on the reply only), reloadable, evaluated and
gated like any adapter; a rerun resumes from the last checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.curate.pipeline import CurationConfig, curate
from harness.curate.records import ColumnSpec
from tests.conftest import PROJECT_DIR, RunCli

pytestmark = pytest.mark.integration

ROWS = [
    (
        "How can I stop overthinking at night?",
        "It can help to write your worries down an hour before bed, then set them aside.",
    ),
    (
        "I get anxious before presentations.",
        "That is very common. Practising out loud a few times and slowing your breathing can help.",
    ),
    (
        "My friend stopped talking to me.",
        "That sounds painful. You could send a short, kind message asking if everything is all right.",
    ),
    (
        "I can't focus on my studies.",
        "Short blocks of work with breaks, and a quiet place without your phone, often help focus.",
    ),
    (
        "I feel lonely since moving city.",
        "Moving is hard. Joining a class or club can be a gentle way to meet people regularly.",
    ),
    (
        "I argue with my parents a lot.",
        "It may help to pick a calm moment and tell them how the arguments make you feel.",
    ),
]


def _curated(tmp_path: Path) -> Path:
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in ROWS))
    config = CurationConfig(pii_engine="regex", crisis_filter=False, toxicity_filter=False, decontaminate=False)
    curate(source, ColumnSpec(), tmp_path / "curated", config)
    return tmp_path / "curated" / "curated.jsonl"


def medqa_rules(tmp_path: Path) -> Path:
    """Gate rules that need one quick task (partial runs allowed): tiny trainings end at a real gate."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "allow_partial_runs": True,
                "rules": [
                    {
                        "id": "medqa-accuracy",
                        "type": "non_inferiority",
                        "task": "mh_medqa_psychiatry",
                        "metric": "acc",
                        "direction": "higher",
                        "kind": "binary",
                        "margin": 0.5,
                    }
                ],
            }
        )
    )
    return rules


def _config(tmp_path: Path, data: Path, **extra: object) -> Path:
    rules = medqa_rules(tmp_path)
    config = {
        "data": str(data),
        "output_dir": str(tmp_path / "adapters"),
        "name": "tiny-sft",
        "max_steps": 2,
        "batch_size": 2,
        "max_length": 96,
        "logging_steps": 1,
        "save_steps": 1,
        "gate_rules": str(rules),
        "eval_limit": 4,
        "report_to": "none",
        "allow_unfiltered_data": True,  # curated without the (slow to load) harm and toxicity filters
        **extra,
    }
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_sft_trains_saves_reloads_and_ends_at_the_gate(run_cli: RunCli, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from harness.models import check_adapter_fits, ensure_default_model, resolve_adapter

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = _config(tmp_path, _curated(tmp_path), report_to="mlflow", tracking_uri=tracking, experiment="t")
    result = run_cli("train", "sft", "--config", str(config), timeout=3600)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-3000:]
    adapter = tmp_path / "adapters" / "tiny-sft"
    record = json.loads((adapter / "training.json").read_text())
    assert record["trainer"] == "sft" and record["steps"] == 2
    assert [entry["step"] for entry in record["loss_curve"]] == [1, 2]
    assert all(entry["loss"] > 0 for entry in record["loss_curve"])
    assert record["data"]["rows"] == len(ROWS) and len(record["data"]["curation_sha256"]) == 64
    assert record["base_model"]["name"] == "smollm2-135m-instruct" and record["versions"]["trl"]
    text = (adapter / "training.json").read_text() + (adapter / "adapter_config.json").read_text()
    assert str(Path.home()) not in text and str(tmp_path) not in text  # no machine paths in the records
    assert not (adapter / "README.md").exists()
    assert not (tmp_path / "adapters" / "tiny-sft.checkpoints").exists()

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    lora_b = [tensor for key, tensor in weights.items() if "lora_B" in key]
    assert lora_b and any(float(t.abs().max()) > 0 for t in lora_b)  # B starts at zero: it moved

    base_dir = ensure_default_model().path
    check_adapter_fits(resolve_adapter(str(adapter)), base_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), adapter)
    assert sum(1 for name, _ in model.named_parameters() if "lora_" in name) == len(weights)

    gate = json.loads((adapter / "gate.json").read_text())
    assert gate["exit_code"] == result.returncode and gate["verdict"] in ("accept", "reject")
    assert gate["run_id"] and gate["baseline_run_id"]
    assert ("ACCEPTED" if result.returncode == 0 else "REJECTED") in result.stdout

    # The same run in MLflow (a real local store): params, per-step loss, the verdict, artifacts.
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking)
    tracked = client.get_run(record["tracking"]["run_id"])
    assert tracked.data.params["mindgate.lora_r"] == "8" and tracked.data.params["mindgate.name"] == "tiny-sft"
    assert [m.step for m in client.get_metric_history(tracked.info.run_id, "loss")] == [1, 2]
    assert tracked.data.tags["gate.verdict"] == gate["verdict"] and tracked.data.tags["gate.run_id"] == gate["run_id"]
    assert any(key.startswith("eval.mh_medqa_psychiatry.acc") for key in tracked.data.metrics)
    artifacts = {item.path for item in client.list_artifacts(tracked.info.run_id)}
    assert {"records", "adapter", "curation"} <= artifacts
    assert tracked.info.status == "FINISHED"
    assert tracked.info.artifact_uri.startswith((tmp_path / "artifacts").as_uri())  # not ./mlruns


def test_the_loss_is_on_the_reply_only(tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from harness.models import ensure_default_model
    from harness.train._common import read_curated
    from harness.train._sft import SFTTrainConfig, sft_examples

    data = read_curated(_curated(tmp_path), generation_targets=False)  # curated without the safety filters
    examples = sft_examples(data, SFTTrainConfig(data=str(data.path)))
    base = ensure_default_model().path
    tokenizer = AutoTokenizer.from_pretrained(base)
    args = SFTConfig(
        output_dir=str(tmp_path / "o"), completion_only_loss=True, max_length=128, report_to=[], use_cpu=True
    )
    trainer = SFTTrainer(
        model=str(base), args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer
    )
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    labels = batch["labels"][0].tolist()
    learned = tokenizer.decode(
        [t for t, label in zip(batch["input_ids"][0].tolist(), labels, strict=True) if label != -100]
    )
    assert ROWS[0][1] in learned
    assert ROWS[0][0] not in learned and "system" not in learned


@pytest.mark.slow  # three training processes; `make test-slow`
def test_a_crashed_run_resumes_from_its_last_checkpoint_to_the_same_adapter(run_cli: RunCli, tmp_path: Path) -> None:
    data = _curated(tmp_path)
    whole = _config(tmp_path, data, max_steps=3, gate=False, name="whole")
    assert run_cli("train", "sft", "--config", str(whole), timeout=1800).returncode == 0
    reference = (tmp_path / "adapters" / "whole" / "adapter_model.safetensors").read_bytes()

    config = _config(tmp_path, data, max_steps=3, gate=False, name="crashed")
    checkpoint = tmp_path / "adapters" / "crashed.checkpoints" / "checkpoint-1" / "trainer_state.json"
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs")}
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "train", "sft", "--config", str(config)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 1800
    while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.kill()  # a crash right after the first checkpoint
    process.wait()
    assert checkpoint.is_file()
    assert not (tmp_path / "adapters" / "crashed" / "adapter_model.safetensors").exists()

    again = run_cli("train", "sft", "--config", str(config), timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stderr
    assert (tmp_path / "adapters" / "crashed" / "adapter_model.safetensors").read_bytes() == reference


@pytest.mark.slow  # two processes under accelerate; `make test-slow`
def test_two_cpu_processes_train_one_adapter_under_accelerate(tmp_path: Path) -> None:
    config = _config(tmp_path, _curated(tmp_path), gate=False, name="ddp", batch_size=1)
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    launcher = Path(sys.executable).parent / "accelerate"
    accelerate_config = PROJECT_DIR / "trainers" / "accelerate" / "ddp_cpu.yaml"  # the shipped one
    command = [str(launcher), "launch", "--config_file", str(accelerate_config)]
    command += ["-m", "harness", "train", "sft", "--config", str(config)]
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    record = json.loads((tmp_path / "adapters" / "ddp" / "training.json").read_text())
    assert record["distributed"] == {"world_size": 2, "backend": "gloo", "steps_per_rank": [2, 2]}
    assert [p.name for p in (tmp_path / "adapters").iterdir()] == ["ddp"]  # one adapter, no leftovers
    assert result.stdout.count("adapter: ") == 1


_SAVE_WITH_A_FULL_DISK = """
import resource, sys, types
from pathlib import Path
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from harness.models import ensure_default_model
from harness.train._common import AdapterSaveError, save_adapter

model = AutoModelForCausalLM.from_pretrained(ensure_default_model().path, dtype=torch.float32)
model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
root = Path(sys.argv[1])
# The file-size limit makes every write past 256 KiB fail with EFBIG, as a full disk fails with
# ENOSPC: the LoRA weights (about 1.8 MB) cannot be written, the small JSON files can.
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
try:
    save_adapter(types.SimpleNamespace(model=model), root / "sft", root / "sft.checkpoints", {"trainer": "sft"})
except AdapterSaveError as error:
    print(error)
    sys.exit(3)
"""


def test_a_full_disk_while_saving_leaves_no_half_adapter_and_keeps_the_previous_one(tmp_path: Path) -> None:
    """The write fails for real (a file-size limit on the saving process): the error names the
    adapter folder and what to do, no partial folder is left, the adapter saved before at that
    path is untouched, and the checkpoints a rerun resumes from are kept."""
    previous = tmp_path / "sft"
    previous.mkdir()
    (previous / "adapter_model.safetensors").write_bytes(b"previous weights")
    (previous / "adapter_config.json").write_text("{}")
    checkpoint = tmp_path / "sft.checkpoints" / "checkpoint-10"
    checkpoint.mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-c", _SAVE_WITH_A_FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_DIR,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert f"{previous}: could not save the adapter" in result.stdout and "File too large" in result.stdout
    assert "run the same command again" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sft", "sft.checkpoints"]  # no .sft.partial
    assert (previous / "adapter_model.safetensors").read_bytes() == b"previous weights"
    assert checkpoint.is_dir()
