"""``mindgate train dpo``: DPO with LoRA (TRL's DPOTrainer) on curated preference pairs, ending at the gate.

On the base model, the LoRA adapter is new and the reference is the base (the adapter switched
off). On top of an accepted adapter (``parent_adapter``, e.g. an SFT adapter), that adapter is
trained further and the reference is a frozen copy of base + parent, so the result is still one
adapter on the base model, evaluated and gated like any other; its record names the lineage
(base -> sft -> dpo). A pair's rejected side is only ever the rejected side.
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
class DPOTrainConfig(LoraTrainConfig):
    """LoRA DPO. Every field is a YAML key of trainers/configs/dpo.yaml and a flag of `mindgate train dpo`."""

    name: str = field(default="dpo", metadata={"help": "adapter name: the directory <output_dir>/<name>"})
    learning_rate: float = field(default=5e-5, metadata={"help": "peak learning rate"})
    beta: float = field(default=0.1, metadata={"help": "DPO beta: how far the policy may move from the reference"})
    loss_type: str = field(
        default="sigmoid", metadata={"help": "TRL DPO loss: sigmoid (the DPO paper), ipo, hinge, ..."}
    )
    prompt_column: str | None = field(default=None, metadata={"help": "prompt column (default: the curation record's)"})
    chosen_column: str | None = field(
        default=None, metadata={"help": "chosen-reply column (default: the curation record's)"}
    )
    rejected_column: str | None = field(
        default=None, metadata={"help": "rejected-reply column (default: the curation record's)"}
    )

    def check(self) -> None:
        super().check()
        if self.beta <= 0:
            raise ValueError("beta must be positive")


def dpo_examples(data: CuratedData, config: DPOTrainConfig) -> list[dict[str, Any]]:
    columns = data.curation.get("columns", {})
    if columns.get("kind") != "preference":
        raise DataFormatError(
            f"{data.path}: curated as {columns.get('kind')!r} data; DPO needs preference pairs "
            "(mindgate curate --kind preference --prompt ... --chosen ... --rejected ...)"
        )
    prompts = column(data.rows, config.prompt_column or columns.get("prompt", "prompt"), data.path, "prompt_column")
    chosen = column(data.rows, config.chosen_column or columns.get("chosen", "chosen"), data.path, "chosen_column")
    rejected = column(
        data.rows, config.rejected_column or columns.get("rejected", "rejected"), data.path, "rejected_column"
    )
    examples = []
    for number, (prompt, good, bad) in enumerate(zip(prompts, chosen, rejected, strict=True), start=1):
        if good.strip() == bad.strip():
            raise DataFormatError(f"{data.path}, row {number}: chosen and rejected are the same text")
        examples.append(
            {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
            }
        )
    return examples


def _reference(config: DPOTrainConfig, base: Any, parent: Any) -> Any:
    """Base + parent adapter, frozen (None without a parent: TRL then switches the new adapter off)."""
    if parent is None:
        return None
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    reference = PeftModel.from_pretrained(model, parent.path).merge_and_unload()
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def train_dpo(config: DPOTrainConfig, console: Console | None = None) -> TrainResult:
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer

    console = console or Console(stderr=True)
    _, checkpoints = adapter_paths(config)
    gate_inputs(config)
    data = read_curated(Path(config.data), generation_targets=not config.allow_unfiltered_data)
    examples = dpo_examples(data, config)

    def build(report_to: list[str]) -> tuple[Any, Any, Any]:
        model, tokenizer, peft_config, base, parent = load_policy(config, console)
        reference = _reference(config, base, parent)
        set_seed(config.seed)
        args = DPOConfig(
            **training_arguments(config, checkpoints, report_to),
            beta=config.beta,
            loss_type=[config.loss_type],
            max_length=config.max_length,
        )
        trainer = DPOTrainer(
            model=model,
            ref_model=reference,
            args=args,
            train_dataset=Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        return trainer, base, parent

    extra = {"pairs": len(examples), "reference": "base + parent adapter" if config.parent_adapter else "base"}
    return run_training("dpo", config, console, data, build, extra)
