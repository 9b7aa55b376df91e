"""The message-risk classifier: the ordered decision rule, the shipped weights' integrity checks,
and a smoke check of the shipped model (its validation is reports/validation/message_risk_*.md,
on messages written and labelled by others)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import CacheCorruptError
from harness.scoring._toxicity_artifact import ARTIFACTS_DIR
from harness.scoring.message_risk import (
    LINEAR_NAME,
    MessageRiskClassifier,
    default_message_risk,
    load_linear_message_risk,
    tier_rank,
)


def _fixed(rows: list[list[float]]) -> MessageRiskClassifier:
    return MessageRiskClassifier(
        lambda texts: np.array(rows[: len(texts)]),
        {"moderate": 0.3, "high": 0.2, "imminent": 0.5},
        {"name": "fixed"},
        "test",
    )


def test_the_highest_risk_tier_whose_at_least_probability_reaches_its_threshold_wins() -> None:
    rows = [
        [0.6, 0.3, 0.05, 0.03, 0.02],  # at least moderate 0.10: not risk; low < none
        [0.2, 0.45, 0.2, 0.1, 0.05],  # at least moderate 0.35 -> moderate (at least high 0.15 < 0.2)
        [0.1, 0.2, 0.45, 0.2, 0.05],  # at least high 0.25 -> high, though moderate is the most probable
        [0.0, 0.1, 0.1, 0.25, 0.55],  # imminent
    ]
    tiers = [risk.tier for risk in _fixed(rows).predict(["a", "b", "c", "d"])]
    assert tiers == ["none", "moderate", "high", "imminent"]


def test_thresholds_must_be_probabilities() -> None:
    with pytest.raises(Exception, match=r"thresholds\.high must be in \(0, 1\)"):
        MessageRiskClassifier(lambda t: np.zeros((0, 5)), {"moderate": 0.3, "high": 1.5, "imminent": 0.5}, {}, "x")


def test_tampered_weights_are_refused_naming_the_file(tmp_path: Path) -> None:
    for suffix in (".json", ".npz"):
        shutil.copy(ARTIFACTS_DIR / f"{LINEAR_NAME}{suffix}", tmp_path / f"{LINEAR_NAME}{suffix}")
    (tmp_path / f"{LINEAR_NAME}.npz").write_bytes(b"not the weights")
    with pytest.raises(CacheCorruptError, match=rf"{LINEAR_NAME}\.npz: sha256 .* scripts/train_message_risk\.py"):
        load_linear_message_risk(tmp_path)


def test_the_shipped_model_orders_plain_cases() -> None:
    risks = default_message_risk().predict(
        ["How does cognitive behavioural therapy work?", "I've taken all the pills and I'm starting to feel dizzy."]
    )
    assert tier_rank(risks[0].tier) <= tier_rank("low")
    assert tier_rank(risks[1].tier) >= tier_rank("high")
