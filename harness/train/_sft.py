"""``mindgate train sft``: LoRA supervised fine-tuning with TRL's SFTTrainer, ending at the gate.

Each curated row becomes a conversational prompt-completion pair (the user's text as the prompt,
the reply as the completion; for chat data, every turn before the last assistant turn as the
prompt). TRL formats both with the base model's chat template and computes the loss on the
completion tokens only (``completion_only_loss``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import DataFormatError
from harness.train._common import (
    CuratedData,
    LoraTrainConfig,
    adapter_paths,
    base_record,
    column,
    distributed_record,
    gate_adapter,
    gate_inputs,
    is_main_process,
    last_checkpoint,
    load_policy,
    read_curated,
    save_adapter,
    training_arguments,
)
from harness.train._config import as_record
from harness.train._tracking import tracking


@dataclass(frozen=True)
class SFTTrainConfig(LoraTrainConfig):
    """LoRA SFT. Every field is a YAML key of trainers/configs/sft.yaml and a flag of `mindgate train sft`."""

    name: str = field(default="sft", metadata={"help": "adapter name: the directory <output_dir>/<name>"})
    prompt_column: str | None = field(
        default=None, metadata={"help": "column of the user's text (default: the curation record's prompt column)"}
    )
    response_column: str | None = field(
        default=None, metadata={"help": "column of the reply to learn (default: the curation record's response column)"}
    )


@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path
    record: dict[str, Any]
    gate_exit_code: int | None  # None when the gate was not run


def sft_examples(data: CuratedData, config: SFTTrainConfig) -> list[dict[str, Any]]:
    columns = data.curation.get("columns", {})
    kind = columns.get("kind", "sft")
    if kind == "chat":
        return [
            _chat_example(row, columns.get("messages", "messages"), data.path, n) for n, row in enumerate(data.rows, 1)
        ]
    if kind != "sft":
        raise DataFormatError(
            f"{data.path}: curated as {kind!r} data; SFT needs prompt/response or chat rows (use `mindgate train dpo` "
            "for preference pairs)"
        )
    prompt_name = config.prompt_column or columns.get("prompt") or "prompt"
    response_name = config.response_column or columns.get("response") or "response"
    prompts = column(data.rows, prompt_name, data.path, "prompt_column")
    replies = column(data.rows, response_name, data.path, "response_column")
    return [
        {"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": r}]}
        for p, r in zip(prompts, replies, strict=True)
    ]


def _chat_example(row: dict[str, Any], name: str, path: Path, number: int) -> dict[str, Any]:
    messages = row.get(name)
    if not isinstance(messages, list) or not messages:
        raise DataFormatError(f"{path}, row {number}: column {name!r} holds no messages")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None or last == 0:
        raise DataFormatError(f"{path}, row {number}: no assistant turn after a user turn to learn from")
    return {"prompt": messages[:last], "completion": [messages[last]]}


def train_sft(config: SFTTrainConfig, console: Console | None = None) -> TrainResult:
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    console = console or Console(stderr=True)
    started = time.monotonic()
    final, checkpoints = adapter_paths(config)
    gate_inputs(config)
    data = read_curated(Path(config.data))
    examples = sft_examples(data, config)
    params = as_record(config)
    main = is_main_process()
    report_to = config.report_to if main else "none"  # one tracked run, from rank 0
    with tracking(report_to, config.tracking_uri, config.experiment, f"sft:{config.name}", params) as tracker:
        model, tokenizer, peft_config, base, parent = load_policy(config, console)
        # The trainer wraps the model with LoRA before it seeds anything: seed the initialisation here.
        set_seed(config.seed)
        args = SFTConfig(
            **training_arguments(config, checkpoints, tracker.report_to),
            max_length=config.max_length,
            completion_only_loss=True,
            packing=False,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        resume = last_checkpoint(checkpoints)
        if resume:
            console.print(f"resuming from {resume}", markup=False, highlight=False)
        trainer.train(resume_from_checkpoint=resume)
        distributed = distributed_record(trainer)
        if not main:  # the other ranks trained; rank 0 saves, gates and records
            return TrainResult(final, {"distributed": distributed}, None)
        tracked = {"tracking": {"kind": tracker.kind, "run_id": tracker.run_id}, "distributed": distributed}
        record = base_record(
            "sft", config, base, parent, data, trainer, started, {"examples": len(examples), **tracked}
        )
        adapter_dir = save_adapter(trainer, final, checkpoints, record)
        console.print(f"adapter saved: {adapter_dir}", markup=False, highlight=False, soft_wrap=True)
        code = gate_adapter(adapter_dir, config, console) if config.gate else None
        tracker.log_outcome(adapter_dir, data.path.parent)
    return TrainResult(adapter_dir, record, code)
