"""lm-eval's hf model, with each shared prefix computed once.

``SharedPrefixHFLM`` is lm-eval's ``HFLM`` with three changes, each giving the same answers:

- log-likelihoods: requests are packed into token tries (``harness.backends._prefix_plan``), so
  a context shared by several options, or a beginning shared by several contexts, is run once;
  only the positions whose log-probabilities are needed get logits. lm-eval's own ``HFLM``
  shares work only between one-token options, and computes the vocabulary logits of every
  position;
- generation runs in batches of ``generation_batch_size`` (lm-eval's code, another batch size),
  with grouped-query attention that reads the shared key/value heads in place and a cache that
  grows in place, instead of two copies of the whole cache at every step
  (``harness.backends._generation``; the logits are the same bit for bit);
- a context's tokenisation is reused for its other options.

``shared_prefix=False`` turns the first two off: lm-eval's own scoring and generation code, for
comparisons (the generation batch size stays an option; remembered tokenisations change
nothing). Everything else (the request cache's hook, truncation from the left, the float32
log-softmax, ``is_greedy``) follows ``HFLM``; requests the trie path cannot take
(encoder-decoder models, attention kernels that ignore a custom mask) go through ``HFLM``
unchanged. Registered in lm-eval's model registry as ``mindgate-hf``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from harness.backends import SHARED_PREFIX_MODEL
from harness.backends._generation import GrowingCache, generation_attention, growing_cache_fits
from harness.backends._prefix_plan import (
    PackedRow,
    ScoredSequence,
    ancestor_mask,
    batch_rows,
    pack_rows,
    scored_sequence,
)

_MASKABLE_ATTENTION = ("sdpa", "eager")  # kernels that honour a custom 4-D attention mask
LoglikelihoodRequest = tuple[tuple[str, str], list[int], list[int]]


@register_model(SHARED_PREFIX_MODEL)
class SharedPrefixHFLM(HFLM):
    """``HFLM`` plus the options below; every other argument is ``HFLM``'s."""

    def __init__(
        self,
        *args: Any,
        shared_prefix: bool = True,
        row_tokens: int = 512,
        batch_cells: int = 8192,
        batch_scored: int = 2048,
        generation_batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.shared_prefix = bool(shared_prefix)
        self.row_tokens = int(row_tokens)
        self.batch_cells = int(batch_cells)
        self.batch_scored = int(batch_scored)
        self.generation_batch_size = int(generation_batch_size) if generation_batch_size else None

    # -- log-likelihood ---------------------------------------------------------------------

    def trie_path_available(self) -> bool:
        """Whether log-likelihoods go through the shared-prefix path (else through ``HFLM``)."""
        if not self.shared_prefix or self.backend != "causal" or not isinstance(self.batch_size, int):
            return False
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        if getattr(base.config, "_attn_implementation", None) not in _MASKABLE_ATTENTION:
            return False
        return "logits_to_keep" in inspect.signature(base.forward).parameters

    def _loglikelihood_tokens(
        self,
        requests: list[LoglikelihoodRequest],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
    ) -> list[tuple[float, bool]]:
        if not self.trie_path_available():
            return list(super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs))
        sequences = [scored_sequence(context, continuation, self.max_length) for _, context, continuation in requests]
        rows = pack_rows(sequences, self.row_tokens)
        max_rows = override_bs or self.batch_size
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        for batch in batch_rows(rows, max_rows=max_rows, max_cells=self.batch_cells, max_scored=self.batch_scored):
            for index, answer in self._score_rows(batch, sequences).items():
                results[index] = answer
                self.cache_hook.add_partial("loglikelihood", requests[index][0], answer)
        missing = [index for index, answer in enumerate(results) if answer is None]
        if missing:  # every request is in exactly one row; this would be a planning bug
            raise RuntimeError(f"shared-prefix scoring left {len(missing)} requests without an answer")
        return [answer for answer in results if answer is not None]

    def _score_rows(
        self, rows: Sequence[PackedRow], sequences: Sequence[ScoredSequence]
    ) -> dict[int, tuple[float, bool]]:
        width = max(len(row) for row in rows)
        keep = max(row.n_needed for row in rows)
        input_ids, positions, mask = self._row_tensors(rows, width)
        logits = self._forward_kept(input_ids, positions, mask, keep)
        logprobs = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)  # [rows, keep, vocab]
        answers: dict[int, tuple[float, bool]] = {}
        for row_index, row in enumerate(rows):
            first_kept = len(row) - keep  # row node n -> kept position n - first_kept
            for request, nodes in row.scored.items():
                picked = logprobs[row_index, [node - first_kept for node in nodes]]  # [len(targets), vocab]
                targets = torch.tensor(sequences[request].targets, dtype=torch.long, device=picked.device)
                greedy = bool((picked.argmax(dim=-1) == targets).all())
                answers[request] = (float(picked.gather(1, targets.unsqueeze(-1)).squeeze(-1).sum()), greedy)
        return answers

    def _row_tensors(self, rows: Sequence[PackedRow], width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows padded on the left (so every row's scored nodes are its last positions), each node
        attending to itself and its ancestors only; a padding position attends to itself only (a
        query that may see nothing would give NaN)."""
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        blocked = torch.finfo(dtype).min
        input_ids = torch.full((len(rows), width), self._pad_id(), dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.full((len(rows), 1, width, width), blocked, dtype=dtype)
        for index, row in enumerate(rows):
            offset = width - len(row)
            input_ids[index, offset:] = torch.tensor(row.tokens, dtype=torch.long)
            positions[index, offset:] = torch.tensor(row.positions, dtype=torch.long)
            allowed = torch.from_numpy(ancestor_mask(row.parents))
            mask[index, 0, offset:, offset:].masked_fill_(allowed, 0.0)
            padding = torch.arange(offset)
            mask[index, 0, padding, padding] = 0.0
        return input_ids.to(self.device), positions.to(self.device), mask.to(self.device)

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else int(self.eot_token_id)

    def _forward_kept(
        self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            output = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                logits_to_keep=keep,
                use_cache=False,
            )
        logits: torch.Tensor = output.logits
        return logits

    # -- tokenisation and generation ---------------------------------------------------------

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, left_truncate_len: int | None = None, **kwargs: Any
    ) -> list[int]:
        # Each option of a multiple-choice item encodes the same context again; the tokenizer is
        # deterministic, so the answer is remembered (a copy is returned: callers may change it).
        if left_truncate_len is None and not kwargs:
            return list(self._encode_remembered(string, add_special_tokens))
        return list(super().tok_encode(string, add_special_tokens, left_truncate_len, **kwargs))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one model object per run; the cache dies with it)
    def _encode_remembered(self, string: str, add_special_tokens: bool | None) -> tuple[int, ...]:
        return tuple(super().tok_encode(string, add_special_tokens))

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        if not self.shared_prefix:  # lm-eval's own generation, as for log-likelihoods
            with self._batch_size_for_generation():
                return list(super().generate_until(requests, disable_tqdm=disable_tqdm))
        with self._batch_size_for_generation(), generation_attention(self.model):
            return list(super().generate_until(requests, disable_tqdm=disable_tqdm))

    def _model_generate(self, context: torch.Tensor, max_length: int, stop: list[str], **generation_kwargs: Any) -> Any:
        if (
            self.shared_prefix
            and self.backend == "causal"
            and "past_key_values" not in generation_kwargs
            and growing_cache_fits(self.model)
        ):
            generation_kwargs["past_key_values"] = GrowingCache()
        return super()._model_generate(context, max_length, stop, **generation_kwargs)

    @contextlib.contextmanager
    def _batch_size_for_generation(self) -> Iterator[None]:
        if self.generation_batch_size is None:
            yield
            return
        saved: int = self.batch_size_per_gpu  # type: ignore[has-type]
        self.batch_size_per_gpu = self.generation_batch_size
        try:
            yield
        finally:
            self.batch_size_per_gpu = saved
