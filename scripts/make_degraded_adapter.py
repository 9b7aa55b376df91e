"""Build a deliberately degraded LoRA adapter for the bundled default model.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_degraded_adapter.py --out DIR [--rank 16] [--scale S] [--seed 0]

This adapter exists only to demonstrate that the acceptance gate (``mindgate gate``, rules in
``rubrics/gate.yaml``) rejects a candidate that is worse than the baseline. It is NOT a fine-tune:
nothing is trained and no text is read. A PEFT LoRA adapter is created on the bundled
SmolLM2-135M-Instruct (q_proj, k_proj, v_proj, o_proj) with random, non-zero A and B matrices
(``LoraConfig(init_lora_weights=False)``, seeded), and every ``lora_B`` weight is then multiplied by
``--scale``. The resulting weight perturbation is noise, so it damages the model in proportion to the
scale: large enough to measurably lower accuracy, small enough (at the scale recorded in the
evidence notes) that the replies are still mostly language rather than pure garbage.

The adapter is saved with safetensors (``adapter_model.safetensors`` + ``adapter_config.json``) and
can be passed to ``mindgate eval --adapter degraded=DIR``. Never ship it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory for the adapter")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank r (default: 16)")
    parser.add_argument("--scale", type=float, default=1.0, help="factor applied to every lora_B weight")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for the random A/B weights (default: 0)")
    args = parser.parse_args(argv)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from harness.models import ensure_default_model

    base_dir = Path(ensure_default_model().path)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    config = LoraConfig(
        r=args.rank,
        lora_alpha=args.rank,  # alpha / r = 1: --scale alone sets the size of the perturbation
        lora_dropout=0.0,
        target_modules=TARGET_MODULES,
        bias="none",
        task_type="CAUSAL_LM",
        init_lora_weights=False,  # random, non-zero A and B (the default would make B zero: a no-op)
    )
    peft_model = get_peft_model(model, config)

    n_b = 0
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(args.scale)
                n_b += 1
    if n_b == 0:
        raise SystemExit("no lora_B weights found: nothing was scaled")

    args.out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(args.out), safe_serialization=True)
    recipe = {
        "purpose": "deliberately degraded adapter (random LoRA weights, no training) for demonstrating gate rejection",
        "base_model_dir": str(base_dir),
        "rank": args.rank,
        "lora_alpha": args.rank,
        "scale_lora_B": args.scale,
        "seed": args.seed,
        "target_modules": TARGET_MODULES,
        "lora_B_tensors_scaled": n_b,
    }
    (args.out / "DEGRADED_RECIPE.json").write_text(json.dumps(recipe, indent=2) + "\n")
    print(json.dumps(recipe, indent=2))
    print(f"saved adapter to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
