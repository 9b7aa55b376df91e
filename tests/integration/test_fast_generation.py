"""The hf backend's generation (``sdpa-gqa`` attention, ``GrowingCache``) gives the logits of
transformers' defaults (``sdpa``, ``DynamicCache``), bit for bit, on a padded batch, for a bare
model and for one with a LoRA adapter; the model is handed back on ``sdpa``."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

PROMPTS = [
    "I can't sleep and my thoughts keep racing about everything that went wrong this year.",
    "Hi",
    "My therapist moved away and I do not know how to start again with someone new. Any advice?",
]


def _generate(model: Any, tokenizer: Any, **options: Any) -> Any:
    import torch

    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in PROMPTS
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model.generate(
            **batch,
            max_new_tokens=24,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
            **options,
        )


@pytest.mark.parametrize("with_adapter", [False, True])
def test_fast_generation_matches_the_defaults_bit_for_bit(with_adapter: bool, monkeypatch: Any) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.backends._generation import GQA_ATTENTION, GrowingCache, _GrowingLayer, generation_attention
    from harness.models import resolve_model

    path = resolve_model("smollm2-135m-instruct").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").eval()
    if with_adapter:
        model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:  # an adapter that changes the answers
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
        model.eval()
    base = model.get_base_model() if with_adapter else model
    assert base.config.num_attention_heads > base.config.num_key_value_heads  # the grouped case

    monkeypatch.setattr(_GrowingLayer, "HEADROOM", 5)  # so the buffer grows several times in 24 steps
    plain = _generate(model, tokenizer)
    with generation_attention(model):
        assert base.config._attn_implementation == GQA_ATTENTION
        cache = GrowingCache()
        fast = _generate(model, tokenizer, past_key_values=cache)
    assert base.config._attn_implementation == "sdpa"
    assert isinstance(fast.past_key_values.layers[0], _GrowingLayer)

    assert torch.equal(plain.sequences, fast.sequences)
    assert len(plain.logits) == len(fast.logits) == 24
    for step_plain, step_fast in zip(plain.logits, fast.logits, strict=True):
        assert torch.equal(step_plain, step_fast)


def test_other_attention_kernels_are_left_alone() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from harness.backends._generation import generation_attention
    from harness.models import resolve_model

    model = AutoModelForCausalLM.from_pretrained(
        resolve_model("smollm2-135m-instruct").path, dtype=torch.float32, attn_implementation="eager"
    )
    with generation_attention(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == "eager"


def test_growing_cache_follows_rows_dropped_or_positions_cropped_between_updates() -> None:
    import torch

    from harness.backends._generation import GrowingCache

    generator = torch.Generator().manual_seed(0)

    def states(rows: int, positions: int) -> torch.Tensor:
        return torch.randn((rows, 3, positions, 4), generator=generator)

    grown, plain = GrowingCache(), __import__("transformers").DynamicCache()
    for step, (rows, positions) in enumerate([(4, 7), (4, 1), (4, 1), (2, 1), (2, 1), (2, 3)]):
        if step == 3:  # rows dropped (as beam or batch selection does), then positions cropped
            for cache in (grown, plain):
                cache.batch_select_indices(torch.tensor([0, 2]))
                cache.crop(-2)
        key, value = states(rows, positions), states(rows, positions)
        got = grown.update(key, value, layer_idx=0)
        want = plain.update(key, value, layer_idx=0)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert grown.get_seq_length() == plain.get_seq_length()


def test_features_the_grouped_path_does_not_carry_go_to_transformers_sdpa() -> None:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from harness.backends._generation import _sdpa_gqa_forward

    generator = torch.Generator().manual_seed(0)
    module = torch.nn.Module()
    module.num_key_value_groups = 3  # type: ignore[assignment]
    module.is_causal = True  # type: ignore[assignment]
    query = torch.randn((2, 6, 5, 8), generator=generator)
    key, value = torch.randn((2, 2, 5, 8), generator=generator), torch.randn((2, 2, 5, 8), generator=generator)
    bias = torch.randn((1, 6, 5, 5), generator=generator)  # a relative position bias, as T5-style models add
    got, _ = _sdpa_gqa_forward(module, query, key, value, None, position_bias=bias)
    want, _ = sdpa_attention_forward(module, query, key, value, None, position_bias=bias)
    assert torch.equal(got, want)
    plain, _ = _sdpa_gqa_forward(module, query, key, value, None)  # causal, no bias: the grouped kernel
    assert not torch.allclose(plain, want)  # so the bias was not silently dropped above
    reference, _ = sdpa_attention_forward(module, query, key, value, None)
    assert torch.allclose(plain, reference, atol=1e-6)
