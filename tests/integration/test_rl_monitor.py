"""The RL monitor's greedy replies are deterministic even for a policy loaded from a parent
adapter for training (train mode, LoRA dropout on), and leave the policy's mode as it was."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_monitor_replies_of_a_policy_in_train_mode_do_not_depend_on_dropout() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models import resolve_model
    from harness.train._rl import greedy_replies

    base = resolve_model("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.5, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    policy = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:  # a parent adapter that is not a no-op, so its dropout matters
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    policy.train()
    messages = ["I feel like nobody would notice if I was gone.", "How do I sleep better before exams?"]
    replies = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        replies.append(greedy_replies(policy, tokenizer, messages, max_new_tokens=12))
    assert replies[0] == replies[1] == replies[2] and all(replies[0])
    assert policy.training  # handed back in the mode it came in
