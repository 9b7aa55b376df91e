"""The risk tier of a user's message (none, low, moderate, high, imminent), read from the message alone.

The guard (``harness.guard``) uses it to decide what a reply must do: at moderate and above a
dismissal is blocked, at high and above a reply must carry a crisis referral. The tiers are the
crisis rubric's (``rubrics/crisis/LABELLING.md``).

Two models are built by ``scripts/train_message_risk.py`` on the messages of the crisis pairs'
train split and a training supplement by another writer (``rubrics/crisis/messages/train-v.jsonl``):
MiniLM fine-tuned with LoRA and a softmax head (``artifacts/message_risk_encoder/``, shipped: fewer
false alarms on messages it never saw) and logistic regression over frozen MiniLM embeddings
(``artifacts/message_risk_v1.*``, the fallback). Tiers are ordered, so the decision is made on
"at least this tier" probabilities: the predicted tier is the highest of moderate, high and
imminent whose probability reaches its threshold (chosen on the tune split, stored with the
weights), else the more probable of none and low. Validation on messages disjoint from the
suite's prompts, including real posts tiered by two readers and idioms and venting written by
other hands: ``reports/validation/message_risk_encoder.md`` (and ``_linear.md``). On the sets
never read before the model was fixed it calls 18-30% of ordinary messages high or imminent and
finds 9 of 17 real high-risk posts at high: a weak classifier, measured as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import DataFormatError
from harness.scoring._toxicity_artifact import ARTIFACTS_DIR, LinearSoftmaxClassifier, read_linear_artifact

TIERS: tuple[str, ...] = ("none", "low", "moderate", "high", "imminent")
RISK_TIERS: tuple[str, ...] = ("moderate", "high", "imminent")  # decided by thresholds, highest first
LINEAR_NAME = "message_risk_v1"
ENCODER_NAME = "message_risk_encoder"
THRESHOLDS_NAME = "thresholds.json"
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
    """``predict`` maps texts to tier probabilities (n x 5); ``identity`` names the weights."""

    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        thresholds: dict[str, float],
        identity: dict[str, Any],
        where: str,
    ) -> None:
        missing = [t for t in RISK_TIERS if not 0.0 < float(thresholds.get(t, -1)) < 1.0]
        if missing:
            raise DataFormatError(f"{where}: thresholds.{missing[0]} must be in (0, 1): {RETRAIN}")
        self._predict = predict
        self.thresholds = {t: float(thresholds[t]) for t in RISK_TIERS}
        self._identity = identity

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "thresholds": self.thresholds}

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(TIERS)))
        return self._predict(list(texts))

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


def load_linear_message_risk(directory: Path = ARTIFACTS_DIR, name: str = LINEAR_NAME) -> MessageRiskClassifier:
    """Logistic regression over frozen MiniLM sentence embeddings (``<name>.npz`` + ``.json``)."""
    weights, bias, record = read_linear_artifact(directory, name, RETRAIN)
    if tuple(record["class_names"]) != TIERS:
        raise DataFormatError(f"{directory / name}.json: class_names must be {list(TIERS)}: {RETRAIN}")
    linear = LinearSoftmaxClassifier(weights, bias, TIERS, ())

    def predict(texts: list[str]) -> np.ndarray:
        from harness.scoring.counsel import text_vectors

        return linear.class_probabilities(text_vectors(texts))

    identity = {"name": name, "kind": "linear", "sha256": record["arrays"]["sha256"]}
    return MessageRiskClassifier(predict, dict(record.get("thresholds") or {}), identity, f"{directory / name}.json")


def encoder_spec() -> Any:
    from harness.scoring._pair_encoder import EncoderSpec, LabelGroup

    return EncoderSpec(name=ENCODER_NAME, groups=(LabelGroup("tier", TIERS, "multiclass"),), first_max_tokens=0)


def load_encoder_message_risk(artifact_dir: Path = ARTIFACTS_DIR / ENCODER_NAME) -> MessageRiskClassifier:
    """MiniLM fine-tuned with LoRA and a softmax head over the five tiers (the message alone)."""
    import json

    from harness.scoring._pair_encoder import PairEncoder

    encoder = PairEncoder(artifact_dir)
    path = artifact_dir / THRESHOLDS_NAME
    if not path.is_file():
        raise DataFormatError(f"{path} is missing: {RETRAIN}")
    chosen = json.loads(path.read_text(encoding="utf-8"))
    if chosen.get("weights_sha256") != encoder.weights_sha256:
        raise DataFormatError(f"{path}: the thresholds were chosen for other weights: {RETRAIN}")

    def predict(texts: list[str]) -> np.ndarray:
        rows = encoder.predict([""] * len(texts), texts)
        return np.array([[row["tier"][t] for t in TIERS] for row in rows])

    identity = {"name": ENCODER_NAME, "kind": "encoder", "sha256": encoder.weights_sha256}
    return MessageRiskClassifier(predict, dict(chosen.get("thresholds") or {}), identity, str(path))


def load_message_risk() -> MessageRiskClassifier:
    """The shipped model: the fine-tuned encoder where its artifact exists, else the linear one."""
    if (ARTIFACTS_DIR / ENCODER_NAME / THRESHOLDS_NAME).is_file():
        return load_encoder_message_risk()
    return load_linear_message_risk()


@lru_cache(maxsize=1)
def default_message_risk() -> MessageRiskClassifier:
    return load_message_risk()
