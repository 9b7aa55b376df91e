"""Text clean-up and the labelled data behind the toxicity scorer.

``clean_text`` is applied to every text the scorer sees, at training and at scoring time, so the
classifier never learns from (or is distracted by) handles, links or retweet markers. The loaders
read the upstream files (Davidson et al. 2017 tweets, ToxiGen demonstration sentences) and are used
only by the training and validation scripts; the scorer itself never reads them.
"""

from __future__ import annotations

import csv
import hashlib
import html
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import DataFormatError

DAVIDSON_HATE, DAVIDSON_OFFENSIVE, DAVIDSON_NEITHER = 0, 1, 2
# Label space of the trained classifier: Davidson's three classes; ToxiGen hate sentences join
# "hate" and ToxiGen neutral sentences join "neither".
CLASS_NAMES: tuple[str, ...] = ("hate", "offensive", "neither")
TOXIC_CLASSES: tuple[int, ...] = (DAVIDSON_HATE, DAVIDSON_OFFENSIVE)

# A link ends at whitespace or a quote mark: tweets often glue text straight onto a closing quote.
_URL = re.compile(r"(?:https?://|www\.)[^\s\"'“”‘’]+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+:?")
_RETWEET = re.compile(r"(?<!\w)RT(?!\w)\s*:?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits with separators: phone numbers (CounselChat answers carry office numbers).
_PHONE = re.compile(r"(?<![\w(])\+?\(?\d(?:[\s().-]*\d){6,}(?!\w)")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Unescape HTML entities; drop URLs, e-mails, phone numbers, @handles, retweet markers; squeeze spaces."""
    text = html.unescape(html.unescape(text))  # Davidson double-escapes some entities ("&amp;#8220;")
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _PHONE.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    text = text.replace("\\n", " ")  # ToxiGen files keep literal "\n" sequences
    return _SPACE.sub(" ", text).strip(" :")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with a class index (see ``CLASS_NAMES``) and where each row came from."""

    texts: tuple[str, ...]
    labels: np.ndarray  # int64, one of CLASS_NAMES' indices
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledTexts:
        rows = [int(i) for i in index]
        return LabelledTexts(
            texts=tuple(self.texts[i] for i in rows),
            labels=self.labels[rows],
            sources=tuple(self.sources[i] for i in rows),
        )

    @property
    def is_toxic(self) -> np.ndarray:
        return np.isin(self.labels, TOXIC_CLASSES)


def load_davidson(path: Path) -> LabelledTexts:
    """Cleaned tweets with their majority class; rows that clean to empty or repeat are dropped.

    Duplicates are dropped (first kept) so the same text can never sit on both sides of a split.
    """
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            try:
                label = int(row["class"])
                raw = row["tweet"]
            except (KeyError, TypeError, ValueError) as error:
                raise DataFormatError(f"{path}:{line_no}: needs integer 'class' and a 'tweet' ({error})") from None
            if label not in (DAVIDSON_HATE, DAVIDSON_OFFENSIVE, DAVIDSON_NEITHER):
                raise DataFormatError(f"{path}:{line_no}: class must be 0, 1 or 2, got {label}")
            text = clean_text(raw)
            key = text.lower()
            if not text or key in seen:
                continue
            seen.add(key)
            texts.append(text)
            labels.append(label)
    return LabelledTexts(tuple(texts), np.asarray(labels, dtype=np.int64), ("davidson",) * len(texts))


def toxigen_demonstration_files(folder: Path) -> list[Path]:
    """``<group folder>/{hate,neutral}_*.txt`` under ToxiGen's ``demonstrations/``, sorted."""
    files = sorted(p for p in folder.glob("*/*.txt") if p.name.startswith(("hate_", "neutral_")))
    if not files:
        raise DataFormatError(f"{folder}: no hate_*.txt or neutral_*.txt files under its group folders")
    return files


def load_toxigen_demonstrations(folder: Path) -> LabelledTexts:
    """One row per distinct demonstration sentence: hate files -> "hate", neutral files -> "neither".

    Some groups ship the same sentences in two files (religion/neutral_muslim*.txt); a sentence is
    kept once. A sentence found under both labels would be ambiguous, so it is dropped.
    """
    by_key: dict[str, tuple[str, int, str]] = {}
    conflicting: set[str] = set()
    for path in toxigen_demonstration_files(folder):
        label = DAVIDSON_HATE if path.name.startswith("hate_") else DAVIDSON_NEITHER
        source = f"toxigen/{path.parent.name}/{path.name}"
        for line in path.read_text(encoding="utf-8").splitlines():
            text = clean_text(line.lstrip("- "))
            if not text:
                continue
            key = text.lower()
            if key in by_key and by_key[key][1] != label:
                conflicting.add(key)
            by_key.setdefault(key, (text, label, source))
    kept = [row for key, row in by_key.items() if key not in conflicting]
    return LabelledTexts(
        texts=tuple(text for text, _, _ in kept),
        labels=np.asarray([label for _, label, _ in kept], dtype=np.int64),
        sources=tuple(source for _, _, source in kept),
    )


def load_counselchat(path: Path, split: str = "train") -> tuple[LabelledTexts, tuple[str, ...]]:
    """Help-seekers' questions and therapists' answers from one CounselChat split, all "neither".

    They teach the classifier that talk about suicide, self-harm and abuse is not by itself toxic.
    Returns the texts and, per row, its question id, so a split can keep a question and its answers
    together. Only the upstream "train" split is used by default, leaving "val"/"test" untouched.
    """
    texts: list[str] = []
    groups: list[str] = []
    sources: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            try:
                if row["split"] != split:
                    continue
                question = f"{row['questionTitle']}. {row['questionText']}"
                answer, question_id = row["answerText"], row["questionID"]
            except KeyError as error:
                raise DataFormatError(f"{path}:{line_no}: missing column {error}") from None
            for kind, raw in (("question", question), ("answer", answer)):
                text = clean_text(raw)
                if text and text.lower() not in seen:
                    seen.add(text.lower())
                    texts.append(text)
                    groups.append(question_id)
                    sources.append(f"counselchat/{kind}")
    labels = np.full(len(texts), DAVIDSON_NEITHER, dtype=np.int64)
    return LabelledTexts(tuple(texts), labels, tuple(sources)), tuple(groups)


def grouped_split(groups: Sequence[str], fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Row indices for each part such that all rows of one group land in the same part, seeded."""
    distinct = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    bounds = np.cumsum([0.0, *fractions]) * len(distinct)
    part_of = {distinct[g]: int(np.searchsorted(bounds, rank, side="right") - 1) for rank, g in enumerate(order)}
    return [
        np.asarray([i for i, g in enumerate(groups) if part_of[g] == part], dtype=np.int64)
        for part in range(len(fractions))
    ]


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], seed: int, strata: Iterable[str] | None = None
) -> list[np.ndarray]:
    """Row indices for each part, stratified by label (and an optional extra key), seeded.

    ``fractions`` must sum to 1; rounding remainders go to the first part (the training part).
    """
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {list(fractions)}")
    keys = [str(label) for label in labels]
    if strata is not None:
        keys = [f"{key}|{extra}" for key, extra in zip(keys, strata, strict=True)]
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for key in sorted(set(keys)):
        rows = np.array([i for i, k in enumerate(keys) if k == key], dtype=np.int64)
        rng.shuffle(rows)
        sizes = [int(len(rows) * f) for f in fractions[1:]]
        first = len(rows) - sum(sizes)
        bounds = np.cumsum([0, first, *sizes])
        for part, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            parts[part].extend(rows[lo:hi].tolist())
    return [np.asarray(sorted(part), dtype=np.int64) for part in parts]
