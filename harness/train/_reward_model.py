"""A trained reward or cost model, loaded for scoring (held-out figures, RL rewards).

A reward-model directory is what ``mindgate train reward`` writes: a PEFT LoRA adapter with
``task_type: SEQ_CLS`` (LoRA weights and the trained one-output score head) on the base model,
its ``training.json`` and its ``gate.json`` (accepted when its held-out pairwise accuracy beats
chance). Texts are encoded exactly as in training (:func:`encode`), so a score here is the score
the model was trained to give.

For a safety model, ``training.json`` also holds a calibration: ``P(harmful) = sigmoid(a * score
+ b)``, fitted on replies labelled harmful or safe; :meth:`RewardModel.costs` returns that
probability, the cost an RL run holds under its limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import AdapterMismatchError, MindgateError
from harness.lineage import TRAINING_RECORD

OBJECTIVES: tuple[str, ...] = ("helpfulness", "safety")
TASK_TYPE = "SEQ_CLS"


class RewardModelError(MindgateError):
    """A reward-model directory that cannot be used (the message names it and says what to do)."""


def encode(tokenizer: Any, prompt: str, reply: str, max_length: int, max_prompt_tokens: int) -> list[int]:
    """Token ids of (user prompt, assistant reply) in the base model's chat template. A long prompt
    keeps its last ``max_prompt_tokens`` tokens (the part next to the reply); a sequence still over
    ``max_length`` loses the end of the reply. Training and scoring share this function."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) > max_prompt_tokens:
        prompt = tokenizer.decode(prompt_ids[-max_prompt_tokens:])
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[:max_length]


def load_seqcls_base(base_path: Path, tokenizer: Any) -> Any:
    """The base model with a one-output score head (random until trained or loaded).

    transformers reports the new ``score`` head as missing weights on every load; that is expected
    here and is not shown. Any other missing weight means the base checkpoint does not fit its
    architecture, and is an error naming the weights."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            base_path, num_labels=1, dtype=torch.float32, output_loading_info=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [key for key in info.get("missing_keys", ()) if not key.startswith("score.")]
    if missing:
        raise RewardModelError(
            f"{base_path}: the base model's checkpoint lacks weights its architecture needs "
            f"({', '.join(sorted(missing)[:5])}{' ...' if len(missing) > 5 else ''}); use a complete checkpoint"
        )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


@dataclass(frozen=True)
class Calibration:
    """P(harmful | score) = sigmoid(a * score + b)."""

    a: float
    b: float

    def probability(self, score: float) -> float:
        z = self.a * score + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class RewardModel:
    """Scores (prompt, reply) pairs with a trained reward-model directory."""

    def __init__(self, directory: Path | str, batch_size: int = 8, require_accepted: bool = True) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoTokenizer

        from harness.models import check_adapter_fits, resolve_adapter, resolve_model

        self.path = Path(directory)
        record_path = self.path / TRAINING_RECORD
        if not record_path.is_file():
            raise RewardModelError(
                f"{self.path}: no {TRAINING_RECORD}; a reward model is the directory `mindgate train reward` writes"
            )
        self.record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
        if self.record.get("trainer") != "reward":
            raise RewardModelError(
                f"{self.path}: trained by `mindgate train {self.record.get('trainer')}`, not a reward model "
                "(train one with `mindgate train reward`)"
            )
        self.verdict = _verdict(self.path)
        if require_accepted and not (self.verdict or {}).get("accepted"):
            reasons = "; ".join((self.verdict or {}).get("reasons") or ["no gate.json"])
            raise RewardModelError(
                f"{self.path}: this reward model was not accepted ({reasons}); train a better one, or allow it "
                "explicitly (allow_rejected_reward_model: true)"
            )
        config = self.record["config"]
        self.objective: str = config["objective"]
        self.max_length = int(config["max_length"])
        self.max_prompt_tokens = int(config["max_prompt_tokens"])
        self.batch_size = batch_size
        calibration = self.record.get("calibration")
        self.calibration = Calibration(calibration["a"], calibration["b"]) if calibration else None
        base = resolve_model(self.record["base_model"]["name"])
        if base.content_hash != self.record["base_model"]["content_hash"]:
            raise AdapterMismatchError(
                f"reward model {self.path} was trained on {self.record['base_model']['name']} with content hash "
                f"{self.record['base_model']['content_hash'][:12]}..., but that name now resolves to "
                f"{base.content_hash[:12]}...: retrain it on this base"
            )
        adapter = resolve_adapter(str(self.path), task_type=TASK_TYPE)
        check_adapter_fits(adapter, base.path)
        self.identity = {
            "path_name": self.path.name,
            "content_hash": adapter.content_hash,
            "objective": self.objective,
            "base_model": self.record["base_model"]["name"],
            # False when used although not accepted (allow_rejected_reward_model): the record says so
            "accepted": bool((self.verdict or {}).get("accepted")),
        }
        self.tokenizer = AutoTokenizer.from_pretrained(base.path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = load_seqcls_base(base.path, self.tokenizer)
        self.model = PeftModel.from_pretrained(model, str(self.path)).eval()
        self._torch = torch

    def check_tokenizer(self, tokenizer: Any, what: str) -> None:
        """A policy must share the reward model's tokenizer (same vocabulary, same chat template)."""
        same = tokenizer.get_vocab() == self.tokenizer.get_vocab() and getattr(
            tokenizer, "chat_template", None
        ) == getattr(self.tokenizer, "chat_template", None)
        if not same:
            raise AdapterMismatchError(
                f"{what} uses another tokenizer or chat template than reward model {self.path} (trained on "
                f"{self.record['base_model']['name']}): train the reward model on the policy's base"
            )

    def scores(self, prompts: Sequence[str], replies: Sequence[str]) -> list[float]:
        torch = self._torch
        encoded = [
            encode(self.tokenizer, p, r, self.max_length, self.max_prompt_tokens)
            for p, r in zip(prompts, replies, strict=True)
        ]
        out: list[float] = []
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start : start + self.batch_size]
            width = max(len(ids) for ids in chunk)
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in chunk])
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in chunk])
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            out.extend(float(v) for v in logits[:, 0])
        return out

    def costs(self, prompts: Sequence[str], replies: Sequence[str]) -> list[float]:
        """P(harmful) per reply (safety models only)."""
        if self.calibration is None:
            raise RewardModelError(
                f"{self.path}: a {self.objective} model has no cost calibration; use a safety model as the cost model"
            )
        return [self.calibration.probability(s) for s in self.scores(prompts, replies)]


def _verdict(path: Path) -> dict[str, Any] | None:
    from harness.train._common import GATE_RECORD

    verdict_path = path / GATE_RECORD
    if not verdict_path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(verdict_path.read_text(encoding="utf-8"))
    return loaded
