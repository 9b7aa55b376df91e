"""Reply measures for mh_counsel_qa: closeness to licensed therapists' answers, and tone.

- ``therapist_similarity``: how close the reply comes to what the licensed therapists said to the
  same question. Per therapist answer, two cosines of sentence embeddings (the project's MiniLM,
  sentence-transformers): the plain one, and the residual one, taken after removing from both
  vectors their component along the question's embedding (what the texts share beyond the
  question itself). The item's value is the best geometric mean of the two over the therapists
  (negative cosines count as 0), as multi-reference metrics (BLEU, BERTScore) take the closest
  reference. Why both: the plain cosine rewards echoing the question (a reply that only copies the
  question back scored at least as high as a therapist's own answer on 61% of the train split's
  questions), the residual one rewards topic-free counselling boilerplate more (31%), their
  geometric mean was the least fooled on the train split across five kinds of fake reply, and the
  held-out figures are in reports/validation/counsel_similarity.md. MiniLM reads at most 256 word
  pieces, and therapists' answers run longer, so a text is embedded in windows of
  ``WINDOW_WORDS`` words and its vector is the normalised mean of the windows'. An empty reply
  scores 0.
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


# A reply whose embedding is (almost) all along the question's has no residual to compare.
_MIN_RESIDUAL = 1e-3


def residual(vectors: np.ndarray, question: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit residuals after removing the component along the unit ``question``, their norms)."""
    stripped = vectors - np.outer(vectors @ question, question)
    norms = np.linalg.norm(stripped, axis=1)
    return stripped / np.where(norms < _MIN_RESIDUAL, 1.0, norms)[:, None], norms


def residual_similarity(replies: np.ndarray, references: np.ndarray, question: np.ndarray) -> np.ndarray:
    """(n_replies, n_references) cosines of the parts of the vectors not along ``question``;
    0 for a reply with no residual."""
    reply_res, reply_norms = residual(replies, question)
    reference_res, _ = residual(references, question)
    similarities = reply_res @ reference_res.T
    similarities[reply_norms < _MIN_RESIDUAL] = 0.0
    return similarities


@lru_cache(maxsize=512)
def _item_vectors(question: str, references: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    vectors = text_vectors([question, *references])
    return vectors[0], vectors[1:]


def combined_similarity(replies: np.ndarray, references: np.ndarray, question: np.ndarray) -> dict[str, np.ndarray]:
    """Per (reply, reference): the plain cosine, the residual cosine and their geometric mean."""
    plain = replies @ references.T
    resid = residual_similarity(replies, references, question)
    combined = np.sqrt(np.clip(plain, 0.0, None) * np.clip(resid, 0.0, None))
    return {"plain": plain, "residual": resid, "combined": combined}


def therapist_similarity(reply: str, question: str, references: Sequence[str]) -> dict[str, Any]:
    """Best combined similarity of ``reply`` to any reference (see the module docstring), which
    reference it was, the per-reference values, and the reply's plain cosine to the question (how
    much it echoes the question)."""
    if not references:
        raise ValueError("therapist_similarity needs at least one reference answer")
    if not reply.strip():
        zeros = [0.0] * len(references)
        return {"value": 0.0, "best_reference": None, "combined": zeros, "plain": zeros, "residual": zeros, "echo": 0.0}
    question_vector, reference_vectors = _item_vectors(question, tuple(references))
    reply_vector = text_vectors([reply])
    parts = {
        name: values[0]
        for name, values in combined_similarity(reply_vector, reference_vectors, question_vector).items()
    }
    best = int(np.argmax(parts["combined"]))
    return {
        "value": float(parts["combined"][best]),
        "best_reference": best,
        **{name: [round(float(v), 4) for v in values] for name, values in parts.items()},
        "echo": round(float(reply_vector[0] @ question_vector), 4),
    }


def sentiment(reply: str) -> dict[str, float]:
    """VADER's scores of the reply: compound (-1..1) and the neg / neu / pos shares."""
    scores: dict[str, float] = _vader().polarity_scores(reply)
    return {key: float(value) for key, value in scores.items()}


def describe() -> dict[str, Any]:
    """What the measures are, for the run record."""
    from importlib.metadata import version

    return {
        "similarity": {
            "model": EMBEDDING_MODEL_NAME,
            "window_words": WINDOW_WORDS,
            "measure": "geometric mean of the plain cosine and the cosine orthogonal to the question's embedding",
            "aggregate": "max over references",
        },
        "sentiment": {"analyser": "VADER", "version": version("vaderSentiment")},
    }
