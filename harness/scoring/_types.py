"""The one type every scorer returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Score:
    """A scorer's judgement of one response.

    ``value`` is the number that is aggregated (1.0/0.0 for binary checks, 0..1 for graded ones).
    ``explanation`` says in words why the value is what it is; it is kept in the per-sample record
    so that every number can be traced back to the evidence for it. ``metadata`` carries the
    machine-readable evidence (rubric items that fired, lexicon hits, class probabilities).
    """

    value: float
    explanation: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    answer: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "explanation": self.explanation,
            "metadata": dict(self.metadata),
            "answer": self.answer,
        }
