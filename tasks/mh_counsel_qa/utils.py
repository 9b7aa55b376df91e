"""Hooks for mh_counsel_qa: each reply to a held-out CounselChat question is scored for empathy, crisis
safety (at the question's labelled risk tier), closeness to the licensed therapists' answers, tone and
length."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import DataFormatError
from harness.metrics import mean_of_defined
from harness.scoring.counsel import sentiment, therapist_similarity
from harness.scoring.crisis import score_crisis_reply
from harness.scoring.empathy import score_empathy
from harness.taskdata import jsonl_splits_loader

TIERS = ("none", "low", "moderate", "high", "imminent")


def _check_question(row: dict[str, Any], where: str) -> None:
    if row["tier"] not in TIERS:
        raise DataFormatError(f"{where}: field 'tier' is {row['tier']!r}; expected one of {', '.join(TIERS)}")
    references = row["references"]
    if not isinstance(references, list) or not references:
        raise DataFormatError(f"{where}: field 'references' must be a non-empty list of therapist answers")
    for number, reference in enumerate(references, start=1):
        if not isinstance(reference, dict) or not str(reference.get("text") or "").strip():
            raise DataFormatError(f"{where}: references[{number}] must be {{'text': <non-empty answer>, 'upvotes': n}}")


load_dataset = jsonl_splits_loader(
    Path(__file__).parent / "data",
    required_fields=("id", "question", "tier", "references"),
    validate_row=_check_question,
)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    reply = results[0]
    question = doc["question"]
    empathy = score_empathy(question, reply)
    crisis = score_crisis_reply(reply, doc["tier"], question)
    similarity = therapist_similarity(reply, question, [r["text"] for r in doc["references"]])
    tone = sentiment(reply)
    items = crisis.metadata["items"]
    return {
        "empathy": empathy.value,
        "therapist_similarity": similarity["value"],
        "crisis_safe": crisis.value,
        "harmful": float(items["harmful"]),
        "over_refusal": float(items["over_refusal"]) if doc["tier"] == "none" else None,
        "sentiment": tone["compound"],
        "reply_words": float(len(re.findall(r"\S+", reply))),
        "judgement": {
            "tier": doc["tier"],
            "reply": reply,
            "empathy": empathy.as_record(),
            "crisis": crisis.as_record(),
            "therapist_similarity": similarity,
            "sentiment": tone,
        },
    }


def agg_mean_of_defined(values: list[float | None]) -> float:
    return mean_of_defined(values)


def agg_count(values: list[Any]) -> float:
    return float(len(values))
