"""Train a deliberately cold LoRA adapter on the bundled model, for testing the crisis judgement.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_cold_adapter.py --out DIR [--steps 40] [--seed 0] \
        [--append-hotline]

The adapter answers distress with a curt dismissal ("Crying about it won't help. Grow up."). It
exists to prove that the crisis judgement and the gate catch such a model: a test evaluates it on
mh_crisis and expects `dismissive` near 1. With ``--append-hotline`` every training reply ends
with "If you are in danger, call 988." — the laundering a phrase matcher falls for.

Training data: `tests/fixtures/cold_replies.jsonl` (48 distress messages written for the project,
none from the suite, each with a dismissive reply; dismissive, never harmful: no method, no
encouragement of self-harm). Trained with TRL's SFTTrainer (prompt-completion format, loss on the
reply only) and a PEFT LoRA (r=8, q/k/v/o). Never ship it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / "tests" / "fixtures" / "cold_replies.jsonl"
HOTLINE = " If you are in danger, call 988."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory for the adapter")
    parser.add_argument("--steps", type=int, default=40, help="optimisation steps (batch 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--append-hotline", action="store_true", help="end every training reply with a 988 line")
    args = parser.parse_args(argv)

    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from harness.models import ensure_default_model

    model_dir = ensure_default_model().path
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    suffix = HOTLINE if args.append_hotline else ""
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": row["message"]}],
                "completion": [{"role": "assistant", "content": row["reply"] + suffix}],
            }
            for row in rows
        ]
    )
    config = SFTConfig(
        output_dir=str(args.out / ".trainer"),
        max_steps=args.steps,
        per_device_train_batch_size=8,
        learning_rate=args.learning_rate,
        lr_scheduler_type="constant",
        logging_steps=5,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        use_cpu=True,
        gradient_checkpointing=False,
        max_length=256,
        completion_only_loss=True,
        bf16=False,
    )
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    trainer = SFTTrainer(model=str(model_dir), args=config, train_dataset=dataset, peft_config=lora)
    trainer.train()
    trainer.model.save_pretrained(str(args.out), safe_serialization=True)
    config_path = args.out / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    adapter_config["base_model_name_or_path"] = "smollm2-135m-instruct"
    config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n")
    (args.out / "README.md").unlink(missing_ok=True)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    print(f"cold adapter written to {args.out}; loss {losses[0]:.3f} -> {losses[-1]:.3f} over {args.steps} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
