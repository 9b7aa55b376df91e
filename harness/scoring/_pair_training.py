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
    BASE_PACKAGE,
    BASE_WEIGHTS_SHA256,
    SPEC_NAME,
    EncoderSpec,
    artifact_weights_sha256,
    base_model_dir,
    check_base_weights,
    encode_pair_windows,
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
    learning_rate: float = field(default=5e-4, metadata={"help": "peak learning rate of the LoRA weights"})
    head_learning_rate: float = field(
        default=1e-3,
        metadata={
            "help": "peak learning rate of the linear head (warm-started from a linear probe); one rate shared "
            "with LoRA left a randomly started head near its initial weights"
        },
    )
    batch_size: int = field(default=16, metadata={"help": "examples per optimisation step"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of steps spent warming up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA path"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, shuffling and dropout"})
    label_pos_weight: tuple[float, ...] = field(
        default=(),
        metadata={
            "help": "per-output weight (empty: 1.0 each): the positive weight of a multilabel output, the class "
            "weight of a multiclass one"
        },
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
            # The same per-output weights act as class weights here (rare levels count more).
            total = total + F.cross_entropy(
                block, target.argmax(dim=1), weight=pos_weight[offset : offset + size], reduction="none"
            )
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
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from harness.scoring._pair_model import LORA_TARGETS, MeanPooledClassifier, base_encoder, save_head

    model_dir = base_model_dir()
    check_base_weights(model_dir)
    transformers.set_seed(config.seed, deterministic=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=LORA_TARGETS
    )
    encoder = get_peft_model(base_encoder(model_dir), lora)
    model = MeanPooledClassifier(encoder, encoder.config.hidden_size, spec.num_outputs)
    pos_weight = torch.tensor(config.label_pos_weight or [1.0] * spec.num_outputs, dtype=torch.float32)
    if len(pos_weight) != spec.num_outputs:
        raise ValueError(f"label_pos_weight has {len(pos_weight)} values for {spec.num_outputs} outputs")

    class GroupLossTrainer(Trainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels, weight = inputs.pop("labels"), inputs.pop("weight")
            logits = model(**inputs)
            loss = group_loss(spec, logits, labels, weight, pos_weight)
            return (loss, logits) if return_outputs else loss

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
        # Batches of similar length: replies vary from a few words to hundreds, and padding every
        # batch to its longest member tripled the cost per step.
        train_sampling_strategy="group_by_length",
        disable_tqdm=False,
    )
    steps = math.ceil(len(examples) / config.batch_size) * math.ceil(config.epochs)
    features = _features(tokenizer, spec, examples)
    warm_start_head(model, spec, features)
    groups: list[dict[str, Any]] = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]},
        {"params": list(model.head.parameters()), "lr": config.head_learning_rate, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, args.warmup_steps, steps)
    trainer = GroupLossTrainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=_collate,
        optimizers=(optimizer, scheduler),
    )
    started = time.monotonic()
    trainer.train()
    wall = time.monotonic() - started
    output_dir.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(str(output_dir), safe_serialization=True)
    save_head(model, output_dir)
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
        "weights_sha256": artifact_weights_sha256(output_dir),
        **(record or {}),
    }
    spec_record = {**spec.as_record(), "training": training}
    (output_dir / SPEC_NAME).write_text(json.dumps(spec_record, indent=2, sort_keys=False) + "\n")
    return training


def warm_start_head(model: Any, spec: EncoderSpec, features: list[dict[str, Any]]) -> None:
    """Linear probe, then fine-tune: fit the head on the frozen encoder's pooled states first.

    A random head and small LoRA updates pull in different directions at the start of training;
    starting from the probe (logistic regression per multilabel output, multinomial per multiclass
    group, L2 C=1) the fine-tuning begins where a frozen encoder already separates the labels.
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    pooled = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(features), 32):
            batch = _collate(features[start : start + 32])
            hidden = model.encoder(
                input_ids=batch["input_ids"],
                token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"],
            ).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    model.train()
    x = np.concatenate(pooled)
    y = np.array([row["labels"] for row in features])
    weight = model.head.weight.detach().clone()
    bias = model.head.bias.detach().clone()
    offset = 0
    for group in spec.groups:
        size = len(group.labels)
        block = y[:, offset : offset + size]
        if group.kind == "multilabel":
            for j in range(size):
                target = block[:, j]
                if 0 < target.sum() < len(target):
                    probe = LogisticRegression(C=1.0, max_iter=2000).fit(x, target)
                    weight[offset + j] = torch.tensor(probe.coef_[0])
                    bias[offset + j] = float(probe.intercept_[0])
        elif len(np.unique(block.argmax(axis=1))) == size:
            probe = LogisticRegression(C=1.0, max_iter=2000).fit(x, block.argmax(axis=1))
            weight[offset : offset + size] = torch.tensor(probe.coef_)
            bias[offset : offset + size] = torch.tensor(probe.intercept_)
        offset += size
    with torch.no_grad():
        model.head.weight.copy_(weight)
        model.head.bias.copy_(bias)


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
