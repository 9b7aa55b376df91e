"""Scorers turn a model's response into a :class:`Score` with an explanation."""

from harness.scoring._types import Score

__all__ = ["Score"]
