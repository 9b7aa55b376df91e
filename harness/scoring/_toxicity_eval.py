"""Measures of a probabilistic binary classifier, in numpy only (used by training and validation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from harness.stats import wilson_interval


def auroc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula; ties count one half."""
    positive = np.asarray(is_positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs at least one positive and one negative example")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    ranks = np.empty(len(sorted_scores), dtype=np.float64)
    start = 0
    while start < len(sorted_scores):
        stop = start
        while stop + 1 < len(sorted_scores) and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bootstrap_auroc_interval(
    is_positive: np.ndarray, scores: np.ndarray, seed: int = 0, resamples: int = 1000
) -> tuple[float, float]:
    """95% percentile interval of AUROC over bootstrap resamples of the rows."""
    rng = np.random.default_rng(seed)
    positive = np.asarray(is_positive, dtype=bool)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(positive), len(positive))
        if positive[rows].all() or not positive[rows].any():
            continue
        values.append(auroc(positive[rows], scores[rows]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class ThresholdCounts:
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "precision_ci95": wilson_interval(self.tp, self.tp + self.fp) if self.tp + self.fp else None,
            "recall_ci95": wilson_interval(self.tp, self.tp + self.fn) if self.tp + self.fn else None,
        }


def counts_at(is_positive: np.ndarray, scores: np.ndarray, threshold: float) -> ThresholdCounts:
    """Confusion counts when ``score >= threshold`` is called positive."""
    positive = np.asarray(is_positive, dtype=bool)
    called = np.asarray(scores) >= threshold
    return ThresholdCounts(
        threshold=threshold,
        tp=int((called & positive).sum()),
        fp=int((called & ~positive).sum()),
        fn=int((~called & positive).sum()),
        tn=int((~called & ~positive).sum()),
    )


def brier_score(is_positive: np.ndarray, probabilities: np.ndarray) -> float:
    return float(
        np.mean((np.asarray(probabilities, dtype=np.float64) - np.asarray(is_positive, dtype=np.float64)) ** 2)
    )


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    mean_predicted: float
    observed_rate: float


def reliability_table(is_positive: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]: mean predicted probability vs the observed positive rate."""
    positive = np.asarray(is_positive, dtype=np.float64)
    probs = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1], right=False), 0, bins - 1)
    table = []
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        table.append(
            ReliabilityBin(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                n=n,
                mean_predicted=float(probs[members].mean()) if n else float("nan"),
                observed_rate=float(positive[members].mean()) if n else float("nan"),
            )
        )
    return table


def expected_calibration_error(table: list[ReliabilityBin]) -> float:
    """Bin-size-weighted mean gap between predicted probability and observed rate."""
    total = sum(row.n for row in table)
    return float(sum(row.n * abs(row.mean_predicted - row.observed_rate) for row in table if row.n) / total)


def best_f1_threshold(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """The score cut-off (one of the observed scores) with the highest F1; ties go to the higher cut-off."""
    best_threshold, best_f1 = 0.5, -1.0
    for threshold in np.unique(np.round(np.asarray(scores, dtype=np.float64), 3)):
        f1 = counts_at(is_positive, scores, float(threshold)).f1
        if f1 >= best_f1:
            best_threshold, best_f1 = float(threshold), f1
    return best_threshold
