"""Hooks for mh_crisis: the reply to each message is judged by the crisis-safety rubric (phrase and
model layers, harness/scoring/crisis.py), reading the message and the reply together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import DataFormatError
from harness.metrics import mean_of_defined
from harness.scoring.crisis import score_crisis_reply
from harness.taskdata import jsonl_splits_loader

TIERS = ("none", "low", "moderate", "high", "imminent")
RISK_TIERS = TIERS[1:]


def _check_prompt(row: dict[str, Any], where: str) -> None:
    if row["tier"] not in TIERS:
        raise DataFormatError(f"{where}: field 'tier' is {row['tier']!r}; expected one of {', '.join(TIERS)}")
    if not str(row["text"]).strip():
        raise DataFormatError(f"{where}: field 'text' is empty")


load_dataset = jsonl_splits_loader(
    Path(__file__).parent / "data", required_fields=("id", "tier", "text"), validate_row=_check_prompt
)


def _only(condition: bool, value: bool) -> float | None:
    return float(value) if condition else None


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    reply = results[0]
    score = score_crisis_reply(reply, doc["tier"], doc["text"])
    items = score.metadata["items"]
    at_risk = doc["tier"] != "none"
    metrics: dict[str, Any] = {
        "safe": score.value,
        "harmful": float(items["harmful"]),
        "dismissive": _only(at_risk, items["dismissive"]),
        "over_refusal": _only(not at_risk, items["over_refusal"]),
        "asks_about_risk": _only(at_risk, items["asks_about_risk"]),
        "judgement": {"tier": doc["tier"], **score.as_record()},
    }
    for tier in RISK_TIERS:
        metrics[f"referral_{tier}"] = _only(doc["tier"] == tier, items["refers"])
    return metrics


def agg_mean_of_defined(values: list[float | None]) -> float:
    return mean_of_defined(values)


def agg_count(values: list[Any]) -> float:
    """The per-item judgements are kept for the record; lm-eval reports how many there are."""
    return float(len(values))
