"""Markdown tables for the toxicity scorer's validation report (pure functions of the measurements)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.scoring._toxicity_eval import (
    auroc,
    bootstrap_auroc_interval,
    brier_score,
    counts_at,
    expected_calibration_error,
    reliability_table,
)
from harness.stats import wilson_interval


@dataclass(frozen=True)
class Candidate:
    name: str
    threshold: float
    probabilities: dict[str, np.ndarray]  # by evaluation set


def fmt_interval(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def rate_cell(flagged: int, n: int) -> str:
    low, high = wilson_interval(flagged, n)
    return f"{flagged / n:.3f} {fmt_interval(low, high)} ({flagged}/{n})" if n else "n/a"


def discrimination_table(candidates: Sequence[Candidate], labels: dict[str, np.ndarray], sets: Sequence[str]) -> str:
    lines = [
        "| candidate | set | n (toxic) | AUROC [95% CI] | threshold | precision [95% CI] | recall [95% CI] "
        "| F1 | Brier | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cand in candidates:
        for name in sets:
            y, p = labels[name], cand.probabilities[name]
            c = counts_at(y, p, cand.threshold)
            ci = bootstrap_auroc_interval(y, p, seed=7)
            ece = expected_calibration_error(reliability_table(y, p))
            lines.append(
                f"| {cand.name} | {name} | {len(y)} ({int(y.sum())}) | {auroc(y, p):.3f} {fmt_interval(*ci)} | "
                f"{cand.threshold:.2f} | {c.precision:.3f} {fmt_interval(*wilson_interval(c.tp, c.tp + c.fp))} | "
                f"{c.recall:.3f} {fmt_interval(*wilson_interval(c.tp, c.tp + c.fn))} | {c.f1:.3f} | "
                f"{brier_score(y, p):.4f} | {ece:.3f} |"
            )
    return "\n".join(lines)


def threshold_table(cand: Candidate, labels: dict[str, np.ndarray], sd_user: np.ndarray, extra: float) -> str:
    lines = [
        "| threshold | Davidson P | Davidson R | Davidson F1 | ToxiGen R | self-disclosure flagged |",
        "|---|---|---|---|---|---|",
    ]
    for t in sorted({0.3, 0.5, 0.7, round(extra, 3)}):
        d = counts_at(labels["davidson"], cand.probabilities["davidson"], t)
        g = counts_at(labels["toxigen"], cand.probabilities["toxigen"], t)
        flagged = int((cand.probabilities["self_disclosure"][sd_user] >= t).sum())
        lines.append(
            f"| {t:.3f} | {d.precision:.3f} | {d.recall:.3f} | {d.f1:.3f} | {g.recall:.3f} | "
            f"{rate_cell(flagged, int(sd_user.sum()))} |"
        )
    return "\n".join(lines)


def reliability_markdown(cand: Candidate, labels: np.ndarray, probabilities: np.ndarray) -> str:
    lines = ["| bin | n | mean predicted | observed toxic rate |", "|---|---|---|---|"]
    for row in reliability_table(labels, probabilities):
        if row.n:
            lines.append(
                f"| {row.low:.1f}-{row.high:.1f} | {row.n} | {row.mean_predicted:.3f} | {row.observed_rate:.3f} |"
            )
    return f"**{cand.name}** (Davidson test)\n\n" + "\n".join(lines)


def false_positive_table(candidates: Sequence[Candidate], rows: list[dict], cc_n: int) -> str:
    groups: list[tuple[str, Callable[[dict], bool]]] = [
        ("user messages (disclosure + help-seeking)", lambda r: r["kind"] != "supportive_reply"),
        ("  of which without profanity", lambda r: r["kind"] != "supportive_reply" and not r["profanity"]),
        ("  of which with profanity", lambda r: r["kind"] != "supportive_reply" and r["profanity"]),
        ("supportive replies", lambda r: r["kind"] == "supportive_reply"),
        ("all rows", lambda r: True),
    ]
    header = "| rows | " + " | ".join(c.name for c in candidates) + " |"
    lines = [header, "|---|" + "---|" * len(candidates)]
    for label, keep in groups:
        mask = np.array([keep(r) for r in rows])
        cells = [
            rate_cell(int((c.probabilities["self_disclosure"][mask] >= c.threshold).sum()), int(mask.sum()))
            for c in candidates
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cc_cells = [rate_cell(int((c.probabilities["counselchat"] >= c.threshold).sum()), cc_n) for c in candidates]
    lines.append("| CounselChat held-out questions and answers | " + " | ".join(cc_cells) + " |")
    return "\n".join(lines)


def summary_table(candidates: Sequence[Candidate], labels: dict[str, np.ndarray], sd_user: np.ndarray) -> str:
    lines = [
        "| candidate | Davidson AUROC | ToxiGen AUROC | ToxiGen recall | mental-illness hate recall "
        "| disclosures flagged | supportive replies flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in candidates:
        sd = c.probabilities["self_disclosure"] >= c.threshold
        toxigen = counts_at(labels["toxigen"], c.probabilities["toxigen"], c.threshold)
        hate = c.probabilities["mental_illness_hate"] >= c.threshold
        lines.append(
            f"| {c.name} | {auroc(labels['davidson'], c.probabilities['davidson']):.3f} | "
            f"{auroc(labels['toxigen'], c.probabilities['toxigen']):.3f} | {toxigen.recall:.3f} | "
            f"{rate_cell(int(hate.sum()), len(hate))} | "
            f"{rate_cell(int(sd[sd_user].sum()), int(sd_user.sum()))} | "
            f"{rate_cell(int(sd[~sd_user].sum()), int((~sd_user).sum()))} |"
        )
    return "\n".join(lines)


def flagged_rows(cand: Candidate, rows: list[dict], evaluation_set: str, missed: bool = False) -> str:
    """Rows the candidate flags (or, with ``missed``, fails to flag), most confident first."""
    probs = cand.probabilities[evaluation_set]
    hits = sorted(
        ((p, r) for p, r in zip(probs, rows, strict=True) if (p < cand.threshold) == missed),
        key=lambda x: x[0] if missed else -x[0],
    )
    if not hits:
        return "none"
    return "\n".join(f"- {p:.2f} `{r['id']}` ({r['kind']}): {r['text']}" for p, r in hits)
