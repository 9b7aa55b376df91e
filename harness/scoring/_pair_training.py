"""Fine-tuning a pair encoder (``_pair_encoder``): LoRA on MiniLM with transformers' Trainer.

Used by the scorer-building scripts only (``make scorers``); scoring never imports this module.
Each training example is the first window of its pair (replies longer than the window are rare in
training data; at scoring time every window is read). Labels are one float vector per example,
laid out like the head: 0/1 per label of a multilabel group (binary cross-entropy, optionally
weighted per label), one-hot for a multiclass group (cross-entropy).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.scoring._pair_encoder import (
    ADAPTER_WEIGHTS,
    BASE_PACKAGE,
    BASE_WEIGHTS_SHA256,
    SPEC_NAME,
    EncoderSpec,
    base_model_dir,
    check_base_weights,
    encode_pair_windows,
    file_sha256,
)


@dataclass(frozen=True)
class PairExample:
    first: str
    second: str
    target: tuple[float, ...]  # laid out like the head's outputs
    weight: float = 1.0


@dataclass(frozen=True)
class TrainingConfig:
    epochs: float = field(default=6.0, metadata={"help": "passes over the training examples"})
    learning_rate: float = field(default=4e-4, metadata={"help": "peak learning rate (linear decay, warm-up)"})
    batch_size: int = field(default=16, metadata={"help": "examples per optimisation step"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of steps spent warming up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA path"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, shuffling and dropout"})
    label_pos_weight: tuple[float, ...] = field(
        default=(), metadata={"help": "per-output positive weight for multilabel outputs (empty: 1.0 each)"}
    )

    def as_record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _features(tokenizer: Any, spec: EncoderSpec, examples: Sequence[PairExample]) -> list[dict[str, Any]]:
    rows = []
    for index, example in enumerate(examples):
        window = encode_pair_windows(tokenizer, example.first, example.second, spec, index)[0]
        rows.append(
            {
                "input_ids": window.input_ids,
                "token_type_ids": window.token_type_ids,
                "labels": list(example.target),
                "weight": example.weight,
            }
        )
    return rows


def _collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    width = max(len(row["input_ids"]) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        size = len(row["input_ids"])
        ids[i, :size] = torch.tensor(row["input_ids"])
        types[i, :size] = torch.tensor(row["token_type_ids"])
        mask[i, :size] = 1
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "labels": torch.tensor([row["labels"] for row in rows], dtype=torch.float32),
        "weight": torch.tensor([row["weight"] for row in rows], dtype=torch.float32),
    }


def group_loss(spec: EncoderSpec, logits: Any, labels: Any, weight: Any, pos_weight: Any) -> Any:
    """Mean over examples (weighted) of the summed group losses."""
    import torch
    import torch.nn.functional as F

    total = torch.zeros(logits.shape[0])
    offset = 0
    for group in spec.groups:
        size = len(group.labels)
        block, target = logits[:, offset : offset + size], labels[:, offset : offset + size]
        if group.kind == "multilabel":
            per = F.binary_cross_entropy_with_logits(
                block, target, pos_weight=pos_weight[offset : offset + size], reduction="none"
            )
            total = total + per.sum(dim=1)
        else:
            total = total + F.cross_entropy(block, target.argmax(dim=1), reduction="none")
        offset += size
    return (total * weight).sum() / weight.sum()


def train_pair_encoder(
    spec: EncoderSpec,
    examples: Sequence[PairExample],
    output_dir: Path,
    config: TrainingConfig,
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, then write the LoRA adapter + head and ``encoder.json`` into ``output_dir``."""
    import torch
    import transformers
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    model_dir = base_model_dir()
    check_base_weights(model_dir)
    transformers.set_seed(config.seed, deterministic=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=spec.num_outputs)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=["query", "key", "value", "dense"],
    )
    model = get_peft_model(base, lora)
    pos_weight = torch.tensor(config.label_pos_weight or [1.0] * spec.num_outputs, dtype=torch.float32)
    if len(pos_weight) != spec.num_outputs:
        raise ValueError(f"label_pos_weight has {len(pos_weight)} values for {spec.num_outputs} outputs")

    class GroupLossTrainer(Trainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels, weight = inputs.pop("labels"), inputs.pop("weight")
            outputs = model(**inputs)
            loss = group_loss(spec, outputs.logits, labels, weight, pos_weight)
            return (loss, outputs) if return_outputs else loss

    scratch = output_dir.parent / f".train-{output_dir.name}"
    args = TrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        warmup_steps=math.ceil(config.warmup_ratio * config.epochs * len(examples) / config.batch_size),
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
    )
    trainer = GroupLossTrainer(
        model=model, args=args, train_dataset=_features(tokenizer, spec, examples), data_collator=_collate
    )
    started = time.monotonic()
    trainer.train()
    wall = time.monotonic() - started
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output_dir), safe_serialization=True)
    _make_adapter_config_portable(output_dir / "adapter_config.json")
    (output_dir / "README.md").unlink(missing_ok=True)  # PEFT's generic model card, not ours
    losses = [
        {"step": entry["step"], "loss": round(float(entry["loss"]), 5)}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    training = {
        "base": {"package": BASE_PACKAGE, "weights_sha256": BASE_WEIGHTS_SHA256},
        "config": config.as_record(),
        "examples": len(examples),
        "wall_time_s": round(wall, 1),
        "loss_curve": losses,
        "adapter_sha256": file_sha256(output_dir / ADAPTER_WEIGHTS),
        **(record or {}),
    }
    spec_record = {**spec.as_record(), "training": training}
    (output_dir / SPEC_NAME).write_text(json.dumps(spec_record, indent=2, sort_keys=False) + "\n")
    return training


def _make_adapter_config_portable(path: Path) -> None:
    """PEFT records the base model's absolute path; the artifact names the package instead."""
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = BASE_PACKAGE
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def multilabel_target(labels: Sequence[str], values: dict[str, int | bool]) -> tuple[float, ...]:
    return tuple(float(bool(values[label])) for label in labels)


def one_hot(size: int, index: int) -> tuple[float, ...]:
    vector = np.zeros(size)
    vector[index] = 1.0
    return tuple(float(v) for v in vector)
