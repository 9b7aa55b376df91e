"""Hooks for mh_empathy: each reply is scored by the EPITOME-trained empathy scorer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.scoring.empathy import score_empathy
from harness.taskdata import jsonl_splits_loader

load_dataset = jsonl_splits_loader(Path(__file__).parent / "data", required_fields=("id", "source", "text"))

_SHORT = {"emotional_reactions": "empathy_er", "interpretations": "empathy_ip", "explorations": "empathy_ex"}


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    reply = results[0]
    score = score_empathy(doc["text"], reply)
    mechanisms = score.metadata["mechanisms"]
    metrics: dict[str, Any] = {
        "empathy": score.value,
        "reply_words": float(len(re.findall(r"\S+", reply))),
        "judgement": {"source": doc["source"], "reply": reply, **score.as_record()},
    }
    for mechanism, name in _SHORT.items():
        metrics[name] = float(mechanisms[mechanism]["score"])
    return metrics


def agg_count(values: list[Any]) -> float:
    return float(len(values))
