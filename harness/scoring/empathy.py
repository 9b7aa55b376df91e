"""Empathy scorer for the mh_empathy task: EPITOME's three mechanisms, predicted from embeddings.

``EmpathyScorer().score(post, reply)`` predicts, for emotional reactions (ER), interpretations
(IP) and explorations (EX), the probability of each EPITOME level (0 none, 1 weak, 2 strong).
A mechanism's 0..1 score is its expected level / 2; the Score value is the mean of the three, so
a higher value means a reply that reacts to, interprets and asks about the seeker's feelings more.

The classifiers are linear models over MiniLM features (``_empathy_features``), trained by
``scripts/train_empathy_scorer.py`` on EPITOME (non-commercial academic licence) and validated
on held-out seeker posts in ``reports/validation/empathy_scorer.md``. They are much smaller than
the RoBERTa models of the EPITOME paper and less accurate; read the report before relying on a
small difference. The weights and MiniLM load lazily, once per scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.scoring._empathy_artifact import (
    ARTIFACT_JSON,
    ARTIFACT_NPZ,
    EmpathyArtifactError,
    LinearSoftmaxModel,
    load_models,
)
from harness.scoring._empathy_features import Embedder, MiniLMEmbedder, feature_matrix, prepare_pair
from harness.scoring._epitome import LEVELS, MECHANISM_CODES, MECHANISMS
from harness.scoring._types import Score

__all__ = ["EmpathyArtifactError", "EmpathyScorer", "default_empathy_scorer", "score_empathy"]

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


class EmpathyScorer:
    """Loads the trained artifact and the embedding model on first use; scores pairs in batches."""

    def __init__(
        self,
        npz_path: Path = ARTIFACT_NPZ,
        json_path: Path = ARTIFACT_JSON,
        embedder: Embedder | None = None,
    ) -> None:
        self.npz_path = npz_path
        self.json_path = json_path
        self._embedder = embedder
        self._models: dict[str, LinearSoftmaxModel] | None = None
        self._record: dict[str, Any] | None = None

    @property
    def models(self) -> dict[str, LinearSoftmaxModel]:
        if self._models is None:
            self._models, self._record = load_models(self.npz_path, self.json_path)
        return self._models

    @property
    def record(self) -> dict[str, Any]:
        """The training record (data hashes, split rule, held-out figures) of the loaded artifact."""
        _ = self.models
        assert self._record is not None
        return self._record

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return self._embedder

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """Per mechanism, an (n_pairs, 3) array of level probabilities."""
        models = self.models  # fail on a bad artifact before spending time on embeddings
        features = feature_matrix([prepare_pair(post, reply) for post, reply in pairs], self.embedder)
        return {m: models[m].predict_proba(features) for m in MECHANISMS}

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Score]:
        """Score (seeker post, reply) pairs; the distinct texts of the batch are embedded together."""
        if not pairs:
            return []
        probabilities = self.probabilities(pairs)
        return [
            combine_mechanisms({m: mechanism_summary(probabilities[m][i]) for m in MECHANISMS})
            for i in range(len(pairs))
        ]

    def score(self, post: str, reply: str) -> Score:
        return self.score_batch([(post, reply)])[0]


@lru_cache(maxsize=1)
def default_empathy_scorer() -> EmpathyScorer:
    """The scorer built from the project's artifact, shared within a process."""
    return EmpathyScorer()


def score_empathy(post: str, reply: str) -> Score:
    """Score one reply to a seeker's post: 0..1, higher is more empathic (see module docstring)."""
    return default_empathy_scorer().score(post, reply)
