"""Generation on the CPU without copying the key/value cache: same logits, bit for bit.

Two copies of the whole cache at every decoding step, which the answers do not need:

1. Grouped-query attention. transformers' ``sdpa`` attention repeats each key/value head for its
   query heads (``repeat_kv``) whenever a padding mask is present, which every batched
   generation has. On the CPU that is a copy of the whole cache at every decoding step: for the
   bundled model (9 query heads over 3 key/value heads, 30 layers) at 32 rows and about 700
   positions, 1.0 s of a profiled 1.65 s step (the step fell to about 0.3 s without it).
   PyTorch's own kernel reads the shared heads in place (``enable_gqa=True``); the arithmetic is
   the same. Registered as the attention implementation ``sdpa-gqa`` with transformers' ``sdpa``
   masks; the hf backend switches a model to it for generation only (``generation_attention``).
2. The cache itself. transformers' ``DynamicCache`` concatenates each new position onto the
   cache, a copy of all of it per layer and step (a third of a step at 32 rows and about 280
   positions, after 1.). ``GrowingCache`` writes into a buffer with room to spare and hands the
   attention a view of the filled part: the same values in the same shape.

tests/integration/test_fast_generation.py checks both against transformers' defaults, logits
equal bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

GQA_ATTENTION = "sdpa-gqa"


def _sdpa_gqa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    grouped = getattr(module, "num_key_value_groups", 1) > 1
    if not grouped or kwargs.get("position_bias") is not None or kwargs.get("cache") is not None:
        # nothing to gain, or a feature of transformers' sdpa this path does not carry: use it as is
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = query.shape[2] > 1 and attention_mask is None and causal
    output = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        is_causal=causal,
        enable_gqa=True,
    )
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(GQA_ATTENTION, _sdpa_gqa_forward)
AttentionMaskInterface.register(GQA_ATTENTION, sdpa_mask)


@contextlib.contextmanager
def generation_attention(model: Any) -> Iterator[None]:
    """Within the block, a model on ``sdpa`` attends with ``sdpa-gqa``; any other kernel (eager,
    flash) and any model that cannot switch is left as it is."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or not base._can_set_attn_implementation():
        yield
        return
    base.set_attn_implementation(GQA_ATTENTION)
    try:
        yield
    finally:
        base.set_attn_implementation("sdpa")


class _GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views into a buffer grown ``HEADROOM``
    positions at a time. Anything that replaces ``keys``/``values`` another way (cropping,
    selecting rows) is picked up at the next update: the buffer restarts from what is there."""

    HEADROOM = 128

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if not self._holds_own_view():
            self._restart_from(self.keys, self.values)
        end = self._length + key_states.shape[-2]
        if self._key_buffer is None or end > self._key_buffer.shape[-2] or not self._fits(key_states):
            self._grow(key_states, value_states, end)
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[..., self._length : end, :] = key_states
        self._value_buffer[..., self._length : end, :] = value_states
        self._length = end
        self.keys = self._key_buffer[..., :end, :]
        self.values = self._value_buffer[..., :end, :]
        return self.keys, self.values

    def _holds_own_view(self) -> bool:
        if self._key_buffer is None:
            return self.keys is None or self.keys.numel() == 0
        return (
            self.keys is not None
            and self.keys.shape[-2] == self._length
            and self.keys.data_ptr() == self._key_buffer.data_ptr()
            and self.keys.shape[:-2] == self._key_buffer.shape[:-2]
        )

    def _fits(self, states: torch.Tensor) -> bool:
        assert self._key_buffer is not None
        return states.shape[:-2] == self._key_buffer.shape[:-2] and states.shape[-1] == self._key_buffer.shape[-1]

    def _restart_from(self, keys: torch.Tensor | None, values: torch.Tensor | None) -> None:
        self._key_buffer = self._value_buffer = None
        self._length = 0
        if keys is not None and values is not None and keys.numel() > 0:
            self._grow(keys, values, keys.shape[-2])
            assert self._key_buffer is not None and self._value_buffer is not None
            self._key_buffer[..., : keys.shape[-2], :] = keys
            self._value_buffer[..., : values.shape[-2], :] = values
            self._length = keys.shape[-2]

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, end: int) -> None:
        capacity = end + self.HEADROOM
        keys = key_states.new_empty((*key_states.shape[:-2], capacity, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:-2], capacity, value_states.shape[-1]))
        if self._key_buffer is not None and self._value_buffer is not None and self._length:
            keys[..., : self._length, :] = self._key_buffer[..., : self._length, :]
            values[..., : self._length, :] = self._value_buffer[..., : self._length, :]
        self._key_buffer, self._value_buffer = keys, values

    def reset(self) -> None:
        super().reset()
        self._key_buffer = self._value_buffer = None
        self._length = 0


class GrowingCache(DynamicCache):
    """transformers' dynamic cache, grown in place (``_GrowingLayer``) for models whose every
    layer is full attention; give it as ``past_key_values`` to ``generate``."""

    def __init__(self) -> None:
        Cache.__init__(self, layer_class_to_replicate=_GrowingLayer)


def growing_cache_fits(model: Any) -> bool:
    """Whether every layer of the model is plain full attention (no sliding windows, no linear
    attention), the only kind ``GrowingCache`` holds."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None:
        return False
    text = config.get_text_config(decoder=True)
    if getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True):
        return False
    layer_types = getattr(text, "layer_types", None)
    return layer_types is None or all(kind == "full_attention" for kind in layer_types)
