"""The first empathy scorer (mh_empathy 1.x), kept only to be measured beside its successor.

Linear models over frozen MiniLM sentence embeddings plus question counts
(``_empathy_features``), trained by ``scripts/train_empathy_v1.py``. It rewarded question marks
over empathy (see ``reports/validation/empathy_scorer.md``); nothing scores runs with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.scoring._empathy_artifact import ARTIFACT_JSON, ARTIFACT_NPZ, LinearSoftmaxModel, load_models
from harness.scoring._empathy_features import Embedder, MiniLMEmbedder, feature_matrix, prepare_pair
from harness.scoring._epitome import MECHANISMS
from harness.scoring.empathy import MechanismScorer


class LinearEmpathyScorer(MechanismScorer):
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
