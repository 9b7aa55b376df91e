"""What every bundled trainer shares: the base model and parent adapter, curated data, the LoRA
set-up, checkpoints and resuming, the adapter's training record, and the gate at the end.

An adapter directory holds the PEFT files (``adapter_config.json``, ``adapter_model.safetensors``)
and ``training.json`` (config, base-model hash, parent adapter, data and curation hashes, seed,
package versions, loss curve, wall time); after the gate also ``gate.json`` (accepted or
rejected, with the rules that decided). It is written under a temporary name and renamed when
complete, so an interrupted save (a full disk) never leaves a directory that looks like an adapter.
Checkpoints live beside it in ``<name>.checkpoints/``; running the same command again resumes from
the last one.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import AdapterMismatchError, DataFormatError, MindgateError
from harness.lineage import TRAINING_RECORD, lineage_of
from harness.train._config import TrainConfigError, as_record

GATE_RECORD = "gate.json"
RECORD_SCHEMA = 1
PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "mindgate")


@dataclass(frozen=True)
class LoraTrainConfig:
    """Fields every trainer has (the YAML schema and the CLI flags)."""

    data: str = field(default="", metadata={"help": "curated data: a curated.jsonl written by `mindgate curate`"})
    base_model: str = field(
        default="smollm2-135m-instruct", metadata={"help": "base model: the bundled name or a local HF directory"}
    )
    parent_adapter: str | None = field(
        default=None, metadata={"help": "an accepted adapter of the same base to continue from (e.g. SFT before DPO)"}
    )
    allow_rejected_parent: bool = field(
        default=False,
        metadata={
            "help": "continue from a parent adapter the gate rejected (its gate.json says so); the new adapter is "
            "gated on its own either way"
        },
    )
    allow_unfiltered_data: bool = field(
        default=False,
        metadata={
            "help": "train on data curated with the harm or toxicity filter off (recorded in training.json); only "
            "for data people have vetted, or tests"
        },
    )
    output_dir: str = field(default="reports/adapters", metadata={"help": "where the adapter directory is written"})
    name: str = field(default="adapter", metadata={"help": "adapter name: the directory <output_dir>/<name>"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing adapter of that name"})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: tuple[str, ...] = field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={"help": "module names that get LoRA weights"}
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the data (ignored when max_steps > 0)"})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps to stop after (-1: use epochs)"})
    batch_size: int = field(default=4, metadata={"help": "examples per device per step"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "steps accumulated per optimizer step"})
    max_length: int = field(default=512, metadata={"help": "tokens per example (longer ones are truncated)"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "share of steps with a rising learning rate"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, dropout and data order"})
    logging_steps: int = field(default=5, metadata={"help": "log the loss every N steps"})
    save_steps: int = field(default=50, metadata={"help": "checkpoint every N steps (a rerun resumes from the last)"})
    qlora: bool = field(
        default=False,
        metadata={"help": "4-bit base weights (QLoRA); needs bitsandbytes and a CUDA GPU (untested on CPU machines)"},
    )
    gate: bool = field(default=True, metadata={"help": "evaluate the adapter and run the gate when training ends"})
    gate_baseline: str = field(
        default="smollm2-135m-suite-v4", metadata={"help": "baseline run the adapter is gated against"}
    )
    gate_rules: str | None = field(default=None, metadata={"help": "gate rules file (default: rubrics/gate.yaml)"})
    eval_limit: int | None = field(
        default=None, metadata={"help": "evaluate only N items per task (needs rules that allow partial runs)"}
    )
    eval_batch_size: int = field(default=16, metadata={"help": "evaluation requests per forward pass"})
    report_to: str = field(default="mlflow", metadata={"help": "experiment tracking: mlflow, wandb (offline) or none"})
    tracking_uri: str | None = field(
        default=None, metadata={"help": "MLflow tracking URI (default: sqlite:///reports/mlflow/mlflow.db)"}
    )
    experiment: str = field(default="mindgate", metadata={"help": "MLflow experiment / W&B project name"})

    def check(self) -> None:
        if not self.data:
            raise ValueError("field 'data' is required: the curated.jsonl written by `mindgate curate`")
        if self.lora_r <= 0 or self.lora_alpha <= 0:
            raise ValueError("lora_r and lora_alpha must be positive")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError("lora_dropout must be in [0, 1)")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("give epochs > 0 or max_steps > 0")
        if self.batch_size <= 0 or self.gradient_accumulation_steps <= 0 or self.max_length < 16:
            raise ValueError("batch_size and gradient_accumulation_steps must be positive, max_length at least 16")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name {self.name!r} must be a plain directory name")
        if self.report_to not in ("mlflow", "wandb", "none"):
            raise ValueError(f"report_to {self.report_to!r}: choose mlflow, wandb or none")


@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path
    record: dict[str, Any]
    gate_exit_code: int | None  # None when the gate was not run (or on a rank other than 0)


@dataclass(frozen=True)
class CuratedData:
    rows: list[dict[str, Any]]
    path: Path
    sha256: str
    curation: dict[str, Any]  # curation.json
    curation_sha256: str


def read_curated(path: Path, generation_targets: bool = True) -> CuratedData:
    """Rows of a curated.jsonl whose curation record vouches for it (same sha256). A model that
    learns to say the targets (SFT, DPO: ``generation_targets``) needs data curated with the
    harm and toxicity filters on; a reward model, which only scores, may use labelled pairs curated
    without them (a labeller's "safe" outranks a recall-tuned filter)."""
    from harness.models._hashing import sha256_file

    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (run `mindgate curate` and point 'data' at its curated.jsonl)")
    record_path = path.parent / "curation.json"
    if not record_path.is_file():
        raise DataFormatError(
            f"{path}: no curation.json beside it, so it was not written by `mindgate curate`; the trainers train "
            "only on curated data (personal data scrubbed, harmful and toxic targets and suite items removed)"
        )
    record = json.loads(record_path.read_text(encoding="utf-8"))
    digest = sha256_file(path)
    expected = record.get("outputs", {}).get(path.name, {}).get("sha256")
    if expected != digest:
        raise DataFormatError(
            f"{path}: its sha256 ({digest[:12]}...) is not the one {record_path} records ({str(expected)[:12]}...); "
            "the file changed after curation: curate it again"
        )
    settings = record.get("config", {})
    off = [name for name in ("crisis_filter", "toxicity_filter") if settings.get(name) is False]
    if generation_targets and off:
        raise DataFormatError(
            f"{path}: curated with {' and '.join(off)} off (--no-{off[0].replace('_', '-')}), so its targets may be "
            "harmful or toxic text; a model must never learn to say them. Curate it again with the filters on "
            "(such data is for `mindgate train reward`), or set allow_unfiltered_data: true if people vetted it"
        )
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DataFormatError(f"{path}, line {number}: not valid JSON ({error.msg})") from error
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return CuratedData(rows, path, digest, record, sha256_file(record_path))


def json_row(path: Path, number: int, line: str) -> dict[str, Any]:
    """One JSONL line as an object, or a DataFormatError naming the file and the line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{path}, line {number}: not valid JSON ({error.msg})") from error
    if not isinstance(row, dict):
        raise DataFormatError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
    return row


def column(rows: list[dict[str, Any]], name: str, path: Path, field_name: str) -> list[str]:
    values = []
    for number, row in enumerate(rows, start=1):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DataFormatError(
                f"{path}, row {number}: column {name!r} is missing or empty (set {field_name} in the config "
                f"to the right column; columns: {', '.join(sorted(row))})"
            )
        values.append(value)
    return values


def check_target_modules(model: Any, modules: tuple[str, ...], base: str) -> None:
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in modules if m not in present]
    if missing:
        linear = sorted(
            {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if type(mod).__name__ == "Linear"}
        )
        raise AdapterMismatchError(
            f"target_modules {missing} are not modules of base model {base}; its linear layers are {', '.join(linear)}"
        )


def check_qlora(config: LoraTrainConfig) -> None:
    if not config.qlora:
        return
    import torch

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise TrainConfigError("qlora: true needs the bitsandbytes package and a CUDA GPU; set qlora: false") from error
    if not torch.cuda.is_available():
        raise TrainConfigError("qlora: true needs a CUDA GPU (none is visible); set qlora: false")


def parent_verdict(parent_dir: Path) -> dict[str, Any] | None:
    """The gate's verdict stored with a parent adapter (``gate.json``), or None when it has none."""
    path = parent_dir / GATE_RECORD
    if not path.is_file():
        return None
    try:
        verdict: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TrainConfigError(f"{path}: unreadable gate verdict of the parent adapter ({error})") from None
    return verdict


def check_parent_verdict(parent_dir: Path, allow_rejected: bool) -> None:
    """Refuse to build on an adapter the gate rejected, unless asked to (``allow_rejected_parent``)."""
    verdict = parent_verdict(parent_dir)
    if verdict is None or verdict.get("accepted") or allow_rejected:
        return
    failed = "; ".join(verdict.get("failed_rules") or []) or ", ".join(verdict.get("reasons") or [])
    raise TrainConfigError(
        f"parent_adapter {parent_dir}: the gate rejected it ({failed or 'see its gate.json'}). Train on the base "
        "model (no parent_adapter), or set allow_rejected_parent: true to continue from it anyway; the new "
        "adapter is gated on its own"
    )


def load_policy(config: LoraTrainConfig, console: Console) -> tuple[Any, Any, Any, Any, Any]:
    """(model with trainable LoRA, tokenizer, peft_config or None, resolved base, resolved parent)."""
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models import check_adapter_fits, resolve_adapter, resolve_model

    check_qlora(config)
    base = resolve_model(config.base_model)
    parent = None
    if config.parent_adapter:
        parent = resolve_adapter(config.parent_adapter)
        check_adapter_fits(parent, base.path)
        check_parent_verdict(parent.path, config.allow_rejected_parent)
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if config.qlora:  # pragma: no cover - needs a CUDA GPU
        from transformers import BitsAndBytesConfig

        kwargs = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")}
    with console.status(f"loading {base.name}"):
        tokenizer = AutoTokenizer.from_pretrained(base.path)
        model = AutoModelForCausalLM.from_pretrained(base.path, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    check_target_modules(model, config.target_modules, base.name)
    if parent is not None:
        policy = PeftModel.from_pretrained(model, parent.path, is_trainable=True)
        return policy, tokenizer, None, base, parent
    peft_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    return model, tokenizer, peft_config, base, parent


REFERENCE_ADAPTER = "reference"


def add_reference_adapter(policy: Any) -> str:
    """Add a frozen copy of a policy's adapter (``default``), to serve as the trainer's reference.

    A policy that continues from a parent adapter starts at base + parent, so that is the model
    its KL penalty and KL limit must measure against; switching the LoRA off would measure
    against the bare base. (TRL's GRPO, RLOO and DPO trainers make such a copy themselves; its
    experimental PPO trainer takes it by name, ``ref_adapter_name``.) Returns the copy's name;
    :func:`save_adapter` writes only the trained adapter."""
    policy.add_adapter(REFERENCE_ADAPTER, policy.peft_config["default"])
    trained = dict(policy.named_parameters())
    for name, parameter in trained.items():
        if f".{REFERENCE_ADAPTER}." in name:
            parameter.data.copy_(trained[name.replace(f".{REFERENCE_ADAPTER}.", ".default.")].data)
            parameter.requires_grad_(False)
    policy.set_adapter("default")
    return REFERENCE_ADAPTER


def adapter_paths(config: LoraTrainConfig) -> tuple[Path, Path]:
    """(final adapter directory, checkpoint directory); refuses to replace an adapter unless asked."""
    root = Path(config.output_dir)
    final = root / config.name
    if final.exists() and not config.overwrite:
        raise TrainConfigError(
            f"{final} already holds an adapter; choose another name, or set overwrite: true (--overwrite)"
        )
    return final, root / f"{config.name}.checkpoints"


def last_checkpoint(checkpoints: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None


def training_arguments(
    config: LoraTrainConfig, checkpoints: Path, report_to: list[str] | None = None
) -> dict[str, Any]:
    """TrainingArguments fields shared by the TRL configs."""
    import torch

    return {
        "output_dir": str(checkpoints),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a share of the steps
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "report_to": report_to or [],
        "use_cpu": not torch.cuda.is_available(),
        "bf16": False,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
    }


def is_main_process() -> bool:
    """True outside distributed runs, and on rank 0 of a run under ``accelerate launch``/torchrun."""
    return os.environ.get("RANK", "0") == "0"


def distributed_record(trainer: Any) -> dict[str, Any]:
    """World size and every rank's optimizer steps (all ranks must call this)."""
    import torch.distributed as dist

    steps = [trainer.state.global_step]
    if dist.is_available() and dist.is_initialized():
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, trainer.state.global_step)
        steps = list(gathered)
        backend = dist.get_backend()
    else:
        backend = None
    return {"world_size": len(steps), "backend": backend, "steps_per_rank": steps}


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _verdict_summary(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {key: verdict.get(key) for key in ("accepted", "verdict", "run_id", "baseline_run_id", "failed_rules")}


class AdapterSaveError(MindgateError):
    """The finished adapter could not be written (disk full, quota, permissions)."""


def _write_errors() -> tuple[type[BaseException], ...]:
    """What a failed write raises: OSError, or safetensors' own error wrapping one (EFBIG, ENOSPC)."""
    from safetensors import SafetensorError

    return (OSError, SafetensorError)


def save_adapter(
    trainer: Any,
    final: Path,
    checkpoints: Path,
    record: dict[str, Any],
) -> Path:
    """Write the adapter and its record under a temporary name, then rename it into place."""
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model = trainer.model
        # only the trained adapter: a PEFT model may also hold a frozen reference copy (TRL's "ref",
        # or add_reference_adapter's), which save_pretrained would write into a subfolder
        adapters = list(getattr(model, "peft_config", None) or ())
        only: dict[str, Any] = {"selected_adapters": ["default"]} if "default" in adapters and len(adapters) > 1 else {}
        if adapters:  # LoRA on attention/MLP layers: the embeddings are the base model's, never saved
            only["save_embedding_layers"] = False
        model.save_pretrained(str(partial), safe_serialization=True, **only)
        _portable_adapter_config(partial / "adapter_config.json")
        (partial / "README.md").unlink(missing_ok=True)  # PEFT's model card names the base model's local path
        (partial / TRAINING_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    except _write_errors() as error:  # a full disk, a quota, a read-only folder
        shutil.rmtree(partial, ignore_errors=True)
        reason = getattr(error, "strerror", None) or error
        raise AdapterSaveError(
            f"{final}: could not save the adapter ({reason}); nothing was left there that "
            "looks like an adapter. Free space (or fix the folder) and run the same command again: training "
            f"resumes from the last checkpoint in {checkpoints}"
        ) from error
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(checkpoints, ignore_errors=True)
    return final


def _portable_adapter_config(path: Path) -> None:
    """PEFT writes the base model's local path; keep only its name (the record holds its hash)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if isinstance(base, str) and ("/" in base or "\\" in base):
        config["base_model_name_or_path"] = Path(base).name
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def base_record(
    kind: str,
    config: LoraTrainConfig,
    base: Any,
    parent: Any,
    data: CuratedData,
    trainer: Any,
    started: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    history = trainer.state.log_history
    key = "loss" if any("loss" in entry for entry in history) else "loss/policy_avg"  # PPO logs its policy loss
    losses = [{"step": entry["step"], "loss": round(float(entry[key]), 5)} for entry in history if key in entry]
    summary: dict[str, Any] = next((entry for entry in reversed(history) if "train_runtime" in entry), {})
    return {
        "schema_version": RECORD_SCHEMA,
        "trainer": kind,
        "config": portable_config(config),
        "base_model": {"name": base.name, "content_hash": base.content_hash, "source": base.source},
        "parent_adapter": None
        if parent is None
        else {
            "name": parent.name,
            "content_hash": parent.content_hash,
            "lineage": lineage_of(parent.path),
            "gate": _verdict_summary(parent_verdict(parent.path)),
        },
        "data": {
            "file": data.path.name,
            "sha256": data.sha256,
            "rows": len(data.rows),
            "curation_sha256": data.curation_sha256,
            "curated_from": data.curation.get("input", {}),
        },
        "seed": config.seed,
        "steps": trainer.state.global_step,
        "loss_curve": losses,
        "train_runtime_s": summary.get("train_runtime"),
        "wall_time_s": round(time.monotonic() - started, 1),
        "versions": package_versions(),
        "python": platform.python_version(),
        **(extra or {}),
    }


_PATH_FIELDS = ("data", "output_dir", "parent_adapter", "gate_rules", "gate_baseline", "tracking_uri")


def portable_config(config: LoraTrainConfig) -> dict[str, Any]:
    """The config as recorded: paths relative to the project when inside it, else just their last
    part (the record also holds the data's and the parent's hashes, which identify them)."""
    from harness.paths import PROJECT_DIR

    record = as_record(config)
    for key in _PATH_FIELDS:
        value = record.get(key)
        if not isinstance(value, str):
            continue
        prefix, sep, rest = value.partition(":///") if value.startswith("sqlite:///") else ("", "", value)
        path = Path(rest)
        if path.is_absolute():
            resolved = path.resolve()
            shown = resolved.relative_to(PROJECT_DIR).as_posix() if resolved.is_relative_to(PROJECT_DIR) else path.name
            record[key] = f"{prefix}{sep}{shown}"
    return record


def gate_inputs(config: LoraTrainConfig) -> tuple[Path, Path] | None:
    """(baseline run directory, rules file), checked before any training: a bad rules file or an
    unknown baseline must not cost a training run."""
    if not config.gate:
        return None
    from harness.gate import DEFAULT_RULES_PATH, load_rules
    from harness.paths import baselines_dir, runs_dir

    rules = Path(config.gate_rules) if config.gate_rules else DEFAULT_RULES_PATH
    load_rules(rules)
    candidates = (Path(config.gate_baseline), baselines_dir() / config.gate_baseline, runs_dir() / config.gate_baseline)
    baseline = next((path for path in candidates if (path / "run.json").is_file()), None)
    if baseline is None:
        raise TrainConfigError(
            f"gate_baseline {config.gate_baseline!r} is neither a run directory nor a baseline under "
            f"{baselines_dir()} (or set gate: false)"
        )
    return baseline, rules


def gate_adapter(adapter_dir: Path, config: LoraTrainConfig, console: Console) -> int:
    """Evaluate the adapter as `mindgate gate --model --adapter` does, store the verdict with the
    adapter and in the leaderboard, and return the gate's exit code (0 accept, 1 reject)."""
    from harness.gate import decision_text, gate_evaluate
    from harness.gate.verdicts import store_decision
    from harness.run import EvalConfig

    inputs = gate_inputs(config)
    assert inputs is not None
    baseline, rules = inputs
    eval_config = EvalConfig(
        model=config.base_model,
        adapters=(f"{adapter_dir.name}={adapter_dir}",),
        limit=config.eval_limit,
        batch_size=config.eval_batch_size,
    )
    gated = gate_evaluate(eval_config, baseline, rules, console)
    print(decision_text(gated.decision), end="", flush=True)
    record = store_decision(gated.decision, console)
    details = record["details"]
    verdict = {
        "accepted": gated.decision.exit_code == 0,
        "exit_code": int(gated.decision.exit_code),
        "verdict": record["verdict"],
        "stopped_early": gated.stopped,
        "run_id": record["run_id"],
        "baseline_run_id": record["baseline_run_id"],
        "rules_sha256": record["rules_hash"],
        "reasons": details["reasons"],
        "failed_rules": [f"{r['rule']['id']}: {r['evidence']}" for r in details["results"] if r["rejects"]],
        "created": record["created"],
    }
    (adapter_dir / GATE_RECORD).write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return int(gated.decision.exit_code)


def release_trainer(trainer: Any) -> None:
    """Drop the trainer's references to the model, optimizer and data loaders (accelerate keeps
    its own), so that the evaluation after training does not hold two copies of the model."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None:
        accelerator.free_memory()
    for name in ("model", "model_wrapped", "optimizer", "lr_scheduler", "ref_model", "reward_model", "value_model"):
        if hasattr(trainer, name):
            setattr(trainer, name, None)


def run_training(
    kind: str,
    config: LoraTrainConfig,
    console: Console,
    data: CuratedData,
    build_trainer: Callable[[list[str]], tuple[Any, Any, Any]],
    extra: dict[str, Any],
    finish: Callable[[Path], int | None] | None = None,
    keep_trainer: bool = False,
) -> TrainResult:
    """Track, train (resuming from the last checkpoint), record, save, gate: the same for every
    trainer. ``build_trainer(report_to)`` returns (TRL trainer, resolved base, resolved parent);
    ``finish(adapter_dir)``, when given, decides instead of the suite's gate (a reward model is
    accepted by its held-out accuracy) and returns 0 (accepted), 1 (rejected) or None (no verdict).
    The trainer is released before ``finish`` and the gate unless ``keep_trainer`` (then ``finish``
    must call ``release_trainer`` once it no longer needs the trained model)."""
    from harness.train._tracking import tracking

    started = time.monotonic()
    final, checkpoints = adapter_paths(config)
    main = is_main_process()
    report_to = config.report_to if main else "none"  # one tracked run, from rank 0
    with tracking(
        report_to, config.tracking_uri, config.experiment, f"{kind}:{config.name}", portable_config(config)
    ) as tracker:
        trainer, base, parent = build_trainer(tracker.report_to)
        resume = last_checkpoint(checkpoints)
        if resume:
            console.print(f"resuming from {resume}", markup=False, highlight=False)
        trainer.train(resume_from_checkpoint=resume)
        distributed = distributed_record(trainer)
        if not main:  # the other ranks trained; rank 0 saves, gates and records
            return TrainResult(final, {"distributed": distributed}, None)
        tracked = {"tracking": {"kind": tracker.kind, "run_id": tracker.run_id}, "distributed": distributed}
        record = base_record(kind, config, base, parent, data, trainer, started, {**extra, **tracked})
        adapter_dir = save_adapter(trainer, final, checkpoints, record)
        console.print(f"adapter saved: {adapter_dir}", markup=False, highlight=False, soft_wrap=True)
        if not keep_trainer:  # the evaluation after training loads the saved adapter afresh
            release_trainer(trainer)
            del trainer
            gc.collect()
        if finish is not None:
            code: int | None = finish(adapter_dir)
        else:
            code = gate_adapter(adapter_dir, config, console) if config.gate else None
        tracker.log_outcome(adapter_dir, data.path.parent)
    return TrainResult(adapter_dir, record, code)
