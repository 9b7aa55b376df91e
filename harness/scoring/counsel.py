"""Reply measures for mh_counsel_qa: closeness to licensed therapists' answers, and tone.

- ``therapist_similarity``: cosine similarity of sentence embeddings (the project's MiniLM,
  sentence-transformers) between the reply and each therapist's answer to the same question; the
  item's value is the best match, as multi-reference metrics (BLEU, BERTScore) take the closest
  reference. MiniLM reads at most 256 word pieces, and therapists' answers run longer, so an
  answer is embedded in windows of ``WINDOW_WORDS`` words and its vector is the normalised mean
  of the windows'. A reply that is empty scores 0.
- ``sentiment``: VADER's compound polarity (-1..1; Hutto & Gilbert 2014), a lexicon analyser that
  practitioners use to see a style shift after DPO. It measures polarity, not care: a validating
  reply ("I'm so sorry, that sounds really painful") scores negative and cheerful dismissal
  positive, so the suite reports it and never rewards it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from harness.scoring._toxicity_embed import EMBEDDING_MODEL_NAME, MiniLMEmbedder

WINDOW_WORDS = 150
_WORDS = re.compile(r"\S+")


@lru_cache(maxsize=1)
def _embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def windows(text: str, size: int = WINDOW_WORDS) -> list[str]:
    """``text`` cut into consecutive runs of at most ``size`` words (one window for short text)."""
    tokens = _WORDS.findall(text)
    return [" ".join(tokens[i : i + size]) for i in range(0, len(tokens), size)] or [""]


def text_vectors(texts: Sequence[str]) -> np.ndarray:
    """One unit vector per text: the normalised mean of its windows' embeddings."""
    pieces: list[str] = []
    owners: list[int] = []
    for number, text in enumerate(texts):
        parts = windows(text)
        pieces.extend(parts)
        owners.extend([number] * len(parts))
    embedded = _embedder().embed(pieces)
    vectors = np.zeros((len(texts), embedded.shape[1]), dtype=np.float64)
    np.add.at(vectors, np.asarray(owners), embedded.astype(np.float64))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


@lru_cache(maxsize=512)
def _reference_vectors(references: tuple[str, ...]) -> np.ndarray:
    return text_vectors(references)


def therapist_similarity(reply: str, references: Sequence[str]) -> dict[str, Any]:
    """Best cosine similarity of ``reply`` to any reference, with which one and all of them."""
    if not references:
        raise ValueError("therapist_similarity needs at least one reference answer")
    if not reply.strip():
        return {"value": 0.0, "best_reference": None, "similarities": [0.0] * len(references)}
    similarities = _reference_vectors(tuple(references)) @ text_vectors([reply])[0]
    best = int(np.argmax(similarities))
    return {
        "value": float(similarities[best]),
        "best_reference": best,
        "similarities": [round(float(s), 4) for s in similarities],
    }


def sentiment(reply: str) -> dict[str, float]:
    """VADER's scores of the reply: compound (-1..1) and the neg / neu / pos shares."""
    scores: dict[str, float] = _vader().polarity_scores(reply)
    return {key: float(value) for key, value in scores.items()}


def describe() -> dict[str, Any]:
    """What the measures are, for the run record."""
    from importlib.metadata import version

    return {
        "similarity": {"model": EMBEDDING_MODEL_NAME, "window_words": WINDOW_WORDS, "aggregate": "max over references"},
        "sentiment": {"analyser": "VADER", "version": version("vaderSentiment")},
    }
