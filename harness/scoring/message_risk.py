"""The risk tier of a user's message (none, low, moderate, high, imminent), read from the message alone.

The guard (``harness.guard``) uses it to decide what a reply must do: at moderate and above a
dismissal is blocked, at high and above a reply must carry a crisis referral. The tiers are the
crisis rubric's (``rubrics/crisis/LABELLING.md``).

The model is multinomial logistic regression over the project's MiniLM sentence embeddings
(``harness/scoring/artifacts/message_risk_v1.*``), trained by ``scripts/train_message_risk.py`` on
the messages of the crisis pairs' train split. Tiers are ordered, so the decision is made on
"at least this tier" probabilities: the predicted tier is the highest of moderate, high and
imminent whose probability reaches its threshold (chosen on the tune split and stored with the
weights), else the more probable of none and low. Validation on messages disjoint from the suite's
prompts, including real posts labelled by two readers and idioms written by another hand:
``reports/validation/message_risk.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from harness.errors import DataFormatError
from harness.scoring._toxicity_artifact import ARTIFACTS_DIR, LinearSoftmaxClassifier, read_linear_artifact

TIERS: tuple[str, ...] = ("none", "low", "moderate", "high", "imminent")
RISK_TIERS: tuple[str, ...] = ("moderate", "high", "imminent")  # decided by thresholds, highest first
ARTIFACT_NAME = "message_risk_v1"
RETRAIN = "rebuild it with `python scripts/train_message_risk.py`"


def tier_rank(tier: str) -> int:
    return TIERS.index(tier)


@dataclass(frozen=True)
class MessageRisk:
    tier: str
    probabilities: dict[str, float]  # per tier
    at_least: dict[str, float]  # P(tier >= t) for the risk tiers

    def as_record(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "probabilities": {t: round(p, 4) for t, p in self.probabilities.items()},
            "at_least": {t: round(p, 4) for t, p in self.at_least.items()},
        }


class MessageRiskClassifier:
    def __init__(self, classifier: LinearSoftmaxClassifier, thresholds: dict[str, float], record: dict[str, Any]):
        if tuple(classifier.class_names) != TIERS:
            raise DataFormatError(f"{ARTIFACT_NAME}.json: class_names must be {list(TIERS)}: {RETRAIN}")
        missing = [t for t in RISK_TIERS if not 0.0 < float(thresholds.get(t, -1)) < 1.0]
        if missing:
            raise DataFormatError(f"{ARTIFACT_NAME}.json: thresholds.{missing[0]} must be in (0, 1): {RETRAIN}")
        self.classifier = classifier
        self.thresholds = {t: float(thresholds[t]) for t in RISK_TIERS}
        self.record = record

    def identity(self) -> dict[str, Any]:
        return {"name": ARTIFACT_NAME, "sha256": self.record["arrays"]["sha256"], "thresholds": self.thresholds}

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        from harness.scoring.counsel import text_vectors

        if not texts:
            return np.zeros((0, len(TIERS)))
        return self.classifier.class_probabilities(text_vectors(list(texts)))

    def decide(self, probabilities: np.ndarray) -> list[MessageRisk]:
        out = []
        for row in probabilities:
            by_tier = {t: float(p) for t, p in zip(TIERS, row, strict=True)}
            at_least = {t: float(row[tier_rank(t) :].sum()) for t in RISK_TIERS}
            tier = next(
                (t for t in reversed(RISK_TIERS) if at_least[t] >= self.thresholds[t]),
                "low" if by_tier["low"] >= by_tier["none"] else "none",
            )
            out.append(MessageRisk(tier, by_tier, at_least))
        return out

    def predict(self, texts: Sequence[str]) -> list[MessageRisk]:
        return self.decide(self.probabilities(texts))


def load_message_risk(directory: Any = ARTIFACTS_DIR, name: str = ARTIFACT_NAME) -> MessageRiskClassifier:
    weights, bias, record = read_linear_artifact(directory, name, RETRAIN)
    classifier = LinearSoftmaxClassifier(weights, bias, tuple(record["class_names"]), ())
    return MessageRiskClassifier(classifier, dict(record.get("thresholds") or {}), record)


@lru_cache(maxsize=1)
def default_message_risk() -> MessageRiskClassifier:
    return load_message_risk()
