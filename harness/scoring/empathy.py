"""Empathy scorer for the mh_empathy task: EPITOME's three mechanisms, read from post and reply together.

``EmpathyScorer().score(post, reply)`` predicts, for emotional reactions (ER), interpretations
(IP) and explorations (EX), the probability of each EPITOME level (0 none, 1 weak, 2 strong).
A mechanism's 0..1 score is its expected level / 2; the Score value is the mean of the three, so
a higher value means a reply that reacts to, interprets and asks about the seeker's feelings more.

The model is a cross-encoder: the project's MiniLM reads ``[CLS] post [SEP] reply [SEP]`` (the
shared pair encoder, ``_pair_encoder``), fine-tuned with LoRA, with one three-level head per
mechanism over the mean-pooled states. Reading the two texts together is what lets it tell a
question about the seeker's feelings from advice phrased as a question, and an interpretation of
this seeker's situation from generic sympathy. Trained by ``scripts/train_empathy_scorer.py`` on
the training posts of EPITOME (non-commercial academic licence) and validated on held-out seeker
posts and an adversarial case file in ``reports/validation/empathy_scorer.md``. The weights
(``harness/scoring/artifacts/empathy_encoder/``, safetensors) load lazily, once per scorer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.scoring._epitome import LEVELS, MECHANISM_CODES, MECHANISMS
from harness.scoring._pair_encoder import ARTIFACTS_DIR, EncoderArtifactError, EncoderSpec, LabelGroup, PairEncoder
from harness.scoring._types import Score

__all__ = [
    "EmpathyArtifactError",
    "EmpathyScorer",
    "default_empathy_scorer",
    "empathy_spec",
    "score_empathy",
]

EmpathyArtifactError = EncoderArtifactError
ARTIFACT_NAME = "empathy_encoder"
LEVEL_LABELS: tuple[str, ...] = tuple(str(level) for level in LEVELS)

LEVEL_NAMES: Mapping[int, str] = {0: "none", 1: "weak", 2: "strong"}


def mechanism_summary(probabilities: np.ndarray) -> dict[str, Any]:
    """Predicted level, 0..1 score (expected level / 2) and class probabilities of one mechanism."""
    levels = np.array(LEVELS, dtype=np.float64)
    expected_level = float(probabilities @ levels)
    return {
        "level": int(LEVELS[int(np.argmax(probabilities))]),
        "score": expected_level / max(LEVELS),
        "probabilities": {str(level): float(p) for level, p in zip(LEVELS, probabilities, strict=True)},
    }


def combine_mechanisms(per_mechanism: Mapping[str, Mapping[str, Any]]) -> Score:
    """The Score of one reply from its per-mechanism summaries; pure, so it is tested without a model."""
    value = float(np.mean([per_mechanism[m]["score"] for m in MECHANISMS]))
    parts = [
        f"{MECHANISM_CODES[m]} {m.replace('_', ' ')}: level {per_mechanism[m]['level']} "
        f"({LEVEL_NAMES[per_mechanism[m]['level']]}, score {per_mechanism[m]['score']:.2f})"
        for m in MECHANISMS
    ]
    explanation = f"empathy {value:.2f} = mean of " + "; ".join(parts) + "."
    metadata = {"mechanisms": {m: dict(per_mechanism[m]) for m in MECHANISMS}}
    answer = "/".join(str(per_mechanism[m]["level"]) for m in MECHANISMS)
    return Score(value=value, explanation=explanation, metadata=metadata, answer=answer)


def empathy_spec() -> EncoderSpec:
    """One multi-class group of levels per mechanism. Seeker posts are long: the reply is read
    after the post's last 160 tokens (the end of a post is usually what a reply answers)."""
    return EncoderSpec(
        name=ARTIFACT_NAME,
        groups=tuple(LabelGroup(mechanism, LEVEL_LABELS, "multiclass") for mechanism in MECHANISMS),
        max_length=384,
        first_max_tokens=160,
    )


class MechanismScorer(ABC):
    """Scores from per-mechanism level probabilities; subclasses say how they get those."""

    @abstractmethod
    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """Per mechanism, an (n_pairs, 3) array of level probabilities."""

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Score]:
        """Score (seeker post, reply) pairs."""
        if not pairs:
            return []
        probabilities = self.probabilities(pairs)
        return [
            combine_mechanisms({m: mechanism_summary(probabilities[m][i]) for m in MECHANISMS})
            for i in range(len(pairs))
        ]

    def score(self, post: str, reply: str) -> Score:
        return self.score_batch([(post, reply)])[0]


class EmpathyScorer(MechanismScorer):
    """Loads the trained cross-encoder on first use; scores (post, reply) pairs in batches."""

    def __init__(self, artifact_dir: Path = ARTIFACTS_DIR / ARTIFACT_NAME, batch_size: int = 32) -> None:
        self.artifact_dir = artifact_dir
        self.batch_size = batch_size

    @cached_property
    def encoder(self) -> PairEncoder:
        """The artifact, checked: its weights must be the ones its training record names."""
        encoder = PairEncoder(self.artifact_dir, self.batch_size)
        record = encoder.spec.extra.get("training")
        if not isinstance(record, dict) or "weights_sha256" not in record:
            raise EmpathyArtifactError(
                f"{self.artifact_dir}: encoder.json has no training record; rebuild it with `make scorers`"
            )
        if record["weights_sha256"] != encoder.weights_sha256:
            raise EmpathyArtifactError(
                f"{self.artifact_dir}: weights have sha256 {encoder.weights_sha256[:12]}..., but encoder.json was "
                f"written for {str(record['weights_sha256'])[:12]}...; check out the artifact again or rebuild it "
                "with `make scorers`"
            )
        return encoder

    @property
    def record(self) -> dict[str, Any]:
        """The training record (data hashes, split, configuration) stored with the weights."""
        record: dict[str, Any] = self.encoder.spec.extra["training"]
        return record

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """Per mechanism, an (n_pairs, 3) array of level probabilities."""
        predicted = self.encoder.predict([post for post, _ in pairs], [reply for _, reply in pairs])
        return {
            m: np.array([[p[m][label] for label in LEVEL_LABELS] for p in predicted], dtype=np.float64).reshape(-1, 3)
            for m in MECHANISMS
        }


@lru_cache(maxsize=1)
def default_empathy_scorer() -> EmpathyScorer:
    """The scorer built from the project's artifact, shared within a process."""
    return EmpathyScorer()


def score_empathy(post: str, reply: str) -> Score:
    """Score one reply to a seeker's post: 0..1, higher is more empathic (see module docstring)."""
    return default_empathy_scorer().score(post, reply)
