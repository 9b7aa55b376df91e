"""PPO for ``mindgate train rl --algorithm ppo`` (and ``mindgate train ppo``): TRL's experimental
``PPOTrainer`` (``trl.experimental.ppo``, present up to the pinned TRL 1.12) with a LoRA policy, a
value model (the base model with a fresh one-output head), and the same shaped reward as GRPO/RLOO:
helpfulness - lambda * cost, lambda updated after every step.

TRL's PPO scores a reply with a sequence-classification model through its backbone and ``score``
head on the policy's token ids. Our reward and cost models read the (message, reply) texts with
their own prompt format and calibration, so :class:`TextReward` stands in as that model: it
recovers each row's message (from the prompt's token ids) and reply (the tokens after it), asks
the shaped reward for a score, and returns it at every position, where TRL reads it at the
reply's last token. Nothing of TRL is patched.

TRL's PPO trainer cannot resume from a checkpoint (its ``train()`` takes no checkpoint), and with
the pinned transformers its own checkpoint save fails, so a PPO run writes no checkpoints: an
interrupted PPO run starts again from the beginning.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from harness.train._config import TrainConfigError


def ppo_classes() -> tuple[Any, Any]:
    """(PPOTrainer, PPOConfig) from TRL's experimental namespace, with vLLM hidden where TRL does
    not support the installed one (see _trl_compat)."""
    import trl.import_utils as import_utils

    from harness.train._trl_compat import _vllm_unsupported

    original = import_utils.is_vllm_available
    if _vllm_unsupported():
        import_utils.is_vllm_available = lambda min_version=None: False
    try:
        from trl.experimental.ppo import PPOConfig, PPOTrainer
    except ImportError as error:  # removed upstream after TRL 1.12
        raise TrainConfigError(
            f"algorithm ppo needs trl.experimental.ppo, which this TRL does not have ({error}); use grpo or rloo"
        ) from error
    finally:
        import_utils.is_vllm_available = original
    return PPOTrainer, PPOConfig


# Shared TrainingArguments fields PPO sets itself (episodes instead of steps; no checkpoints).
_NOT_FOR_PPO = ("max_steps", "num_train_epochs", "save_strategy", "save_steps", "save_total_limit")


def _module_base() -> type:
    import torch

    return torch.nn.Module


class TextReward(_module_base()):  # type: ignore[misc]
    """A reward "model" with TRL's interface (``base_model_prefix``, a backbone and ``score``)
    whose value is the shaped text reward of (message, reply)."""

    base_model_prefix = "backbone"

    def __init__(self, shaped: Any, tokenizer: Any, prompts: dict[tuple[int, ...], str]) -> None:
        super().__init__()
        self.shaped = shaped
        self.tokenizer = tokenizer
        # TRL masks every pad token, and a chat template's end-of-turn token is often the pad token
        # too (SmolLM2's <|im_end|>): prompts are matched without it.
        pad = tokenizer.pad_token_id
        self.prompts = {tuple(t for t in ids if t != pad): message for ids, message in prompts.items()}
        self.lengths = sorted({len(ids) for ids in self.prompts}, reverse=True)

    def split(self, ids: list[int]) -> tuple[str, str]:
        for length in self.lengths:
            message = self.prompts.get(tuple(ids[:length]))
            if message is not None:
                return message, self.tokenizer.decode(ids[length:], skip_special_tokens=True).strip()
        raise RuntimeError("a PPO rollout whose prompt is not one of the training prompts")

    def backbone(self, input_ids: Any, attention_mask: Any, **_: Any) -> Any:
        import torch

        pairs = [self.split(row[mask].tolist()) for row, mask in zip(input_ids, attention_mask.bool(), strict=True)]
        values = self.shaped([m for m, _ in pairs], [r for _, r in pairs])
        column = torch.tensor(values, dtype=torch.float32, device=input_ids.device)
        return SimpleNamespace(hidden_states=[column[:, None, None].expand(-1, input_ids.shape[1], 1)])

    def score(self, hidden: Any) -> Any:
        return hidden


def build_ppo(
    config: Any,
    model: Any,
    tokenizer: Any,
    peft_config: Any,
    base_path: Any,
    messages: list[str],
    shaped: Any,
    args: dict[str, Any],
    callbacks: list[Any],
) -> Any:
    """A PPO trainer on the chat-formatted messages; ``args`` are the shared TrainingArguments fields."""
    from datasets import Dataset

    from harness.train._common import add_reference_adapter
    from harness.train._reward_model import load_seqcls_base

    trainer_cls, config_cls = ppo_classes()
    tokenizer.padding_side = "left"
    rows = []
    prompts: dict[tuple[int, ...], str] = {}
    for message in messages:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        prompts[tuple(ids)] = message
        rows.append({"input_ids": ids})
    value_model = load_seqcls_base(base_path, tokenizer)
    # a policy continuing from a parent adapter is measured against base + parent, not the bare base
    reference = (
        {}
        if peft_config is not None
        else {"model_adapter_name": "default", "ref_adapter_name": add_reference_adapter(model)}
    )
    per_step = config.batch_size * config.gradient_accumulation_steps
    episodes = config.max_steps * per_step if config.max_steps > 0 else int(config.epochs * len(rows))
    ppo_args = config_cls(
        **{key: value for key, value in args.items() if key not in _NOT_FOR_PPO},
        total_episodes=max(per_step, episodes),
        response_length=config.max_completion_length,
        temperature=config.temperature,
        kl_coef=config.beta,
        stop_token="eos",
        num_ppo_epochs=config.ppo_epochs,
        num_mini_batches=1,
        local_rollout_forward_batch_size=config.batch_size,
        num_sample_generations=0,
        missing_eos_penalty=None,
        gradient_checkpointing=False,  # a small policy, as for GRPO/RLOO (TRL's default is on)
        # No checkpoints: TRL's PPO trainer cannot resume from one, and with the pinned transformers
        # its checkpoint save fails (PPOTrainer skips Trainer.__init__, which sets an attribute
        # Trainer.save_model reads). The finished adapter is saved by the harness as for any trainer.
        save_strategy="no",
        **reference,
    )

    class ConstrainedPPOTrainer(trainer_cls):  # type: ignore[misc,valid-type]
        def train(self, resume_from_checkpoint: str | None = None) -> None:
            if resume_from_checkpoint:
                print(
                    f"PPO cannot resume from {resume_from_checkpoint} (TRL's PPO trainer has no resume); "
                    "starting again from step 0",
                    flush=True,
                )
            super().train()
            self.model = self.accelerator.unwrap_model(self.model).policy  # type: ignore[has-type]  # saved, monitored

    return ConstrainedPPOTrainer(
        args=ppo_args,
        processing_class=tokenizer,
        model=model,
        ref_model=None,  # the policy with its LoRA switched off, or the parent adapter's frozen copy
        reward_model=TextReward(shaped, tokenizer, prompts),
        train_dataset=Dataset.from_list(rows),
        value_model=value_model,
        peft_config=peft_config,
        callbacks=callbacks,
    )
