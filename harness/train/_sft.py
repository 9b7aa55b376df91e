"""``mindgate train sft``: LoRA supervised fine-tuning with TRL's SFTTrainer, ending at the gate.

Each curated row becomes a conversational prompt-completion pair (the user's text as the prompt,
the reply as the completion; for chat data, every turn before the last assistant turn as the
prompt). TRL formats both with the base model's chat template and computes the loss on the
completion tokens only (``completion_only_loss``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import DataFormatError
from harness.train._common import (
    CuratedData,
    LoraTrainConfig,
    TrainResult,
    adapter_paths,
    column,
    gate_inputs,
    load_policy,
    read_curated,
    run_training,
    training_arguments,
)


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
    _, checkpoints = adapter_paths(config)
    gate_inputs(config)
    data = read_curated(Path(config.data), generation_targets=not config.allow_unfiltered_data)
    examples = sft_examples(data, config)

    def build(report_to: list[str]) -> tuple[Any, Any, Any]:
        model, tokenizer, peft_config, base, parent = load_policy(config, console)
        # The trainer wraps the model with LoRA before it seeds anything: seed the initialisation here.
        set_seed(config.seed)
        args = SFTConfig(
            **training_arguments(config, checkpoints, report_to),
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
        return trainer, base, parent

    return run_training("sft", config, console, data, build, {"examples": len(examples)})
