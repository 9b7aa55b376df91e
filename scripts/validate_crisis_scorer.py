"""Measure the crisis scorer against the hand-labelled replies and write a markdown report.

Usage:
    python scripts/validate_crisis_scorer.py                 # all splits, writes the report
    python scripts/validate_crisis_scorer.py --split tune    # print tune-split figures only

Precision, recall and F1 are computed per rubric item (positive = the item is true) and for the
overall verdict (positive = unsafe, the class the scorer exists to catch), on all rows, on the
"tune" split the patterns were written against, on the "heldout" split they were not, and per
tier. Intervals are 95% Wilson score intervals on the proportion shown.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._crisis_patterns import TIERS  # noqa: E402
from harness.scoring.crisis import ITEMS, CrisisScorer, load_crisis_scorer  # noqa: E402

LABELLED = REPO / "rubrics" / "crisis" / "labelled_replies.jsonl"
REPORT = REPO / "reports" / "validation" / "crisis_scorer.md"
# Method names and amounts in the labelled harmful replies are bracketed placeholders ("[method]",
# "[N]") so the file holds no real method detail. Patterns may match the brackets, which a real
# reply would not contain, so recall is also reported with every placeholder replaced by a neutral
# word: that figure credits only cues that would survive in a real reply (see README.md).
_COUNT_PLACEHOLDER = re.compile(r"\[N\]")
_OTHER_PLACEHOLDER = re.compile(r"\[[^\]]+\]")


def neutralise_placeholders(text: str) -> str:
    return _OTHER_PLACEHOLDER.sub("something", _COUNT_PLACEHOLDER.sub("several", text))


@dataclass(frozen=True)
class Prediction:
    row: dict[str, Any]
    items: dict[str, bool]
    unsafe: bool


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return (math.nan, math.nan)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def predict(rows: Iterable[dict[str, Any]], scorer: CrisisScorer, neutralise: bool = False) -> list[Prediction]:
    predictions = []
    for row in rows:
        reply = neutralise_placeholders(row["reply"]) if neutralise else row["reply"]
        score = scorer.score(reply, row["tier"])
        predictions.append(Prediction(row, dict(score.metadata["items"]), score.value == 0.0))
    return predictions


def count(preds: Sequence[Prediction], gold: Callable[[dict], bool], pred: Callable[[Prediction], bool]) -> Counts:
    tp = sum(1 for p in preds if gold(p.row) and pred(p))
    fp = sum(1 for p in preds if not gold(p.row) and pred(p))
    fn = sum(1 for p in preds if gold(p.row) and not pred(p))
    return Counts(tp, fp, fn, len(preds) - tp - fp - fn)


def fmt_rate(num: int, den: int) -> str:
    if den == 0:
        return "n/a"
    low, high = wilson_interval(num, den)
    return f"{num / den:.2f} [{low:.2f}, {high:.2f}] ({num}/{den})"


def f1(c: Counts) -> str:
    if 2 * c.tp + c.fp + c.fn == 0:
        return "n/a"
    return f"{2 * c.tp / (2 * c.tp + c.fp + c.fn):.2f}"


def recall_text(c: Counts) -> str:
    return fmt_rate(c.tp, c.tp + c.fn)


def table_row(name: str, c: Counts) -> str:
    precision = fmt_rate(c.tp, c.tp + c.fp)
    return f"| {name} | {c.n} | {c.tp + c.fn} | {precision} | {recall_text(c)} | {f1(c)} |"


HEADER = "| measure | n | gold positives | precision [95% CI] | recall [95% CI] | F1 |\n|---|---|---|---|---|---|"


def item_applies(item: str, tier: str) -> bool:
    """Each item is measured on the tiers where the rubric records it (see rubric.yaml)."""
    if item == "over_refusal":
        return tier == "none"
    if item in ("acknowledges", "refers"):
        return tier != "none"
    return True


def gold_item(item: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: bool(row["gold"][item])


def predicted_item(item: str) -> Callable[[Prediction], bool]:
    return lambda prediction: prediction.items[item]


def section(title: str, preds: Sequence[Prediction]) -> str:
    lines = [f"### {title}", "", HEADER]
    lines.append(table_row("verdict (unsafe)", count(preds, lambda r: r["verdict"] == "unsafe", lambda p: p.unsafe)))
    for item in ITEMS:
        subset = [p for p in preds if item_applies(item, p.row["tier"])]
        lines.append(table_row(item, count(subset, gold_item(item), predicted_item(item))))
    return "\n".join(lines) + "\n"


def tier_section(preds: Sequence[Prediction]) -> str:
    lines = ["### Verdict and harmful by tier (all rows)", "", HEADER]
    for tier in TIERS:
        subset = [p for p in preds if p.row["tier"] == tier]
        lines.append(
            table_row(
                f"{tier}: verdict (unsafe)",
                count(subset, lambda r: r["verdict"] == "unsafe", lambda p: p.unsafe),
            )
        )
        if tier != "none":
            lines.append(
                table_row(
                    f"{tier}: harmful",
                    count(subset, lambda r: r["gold"]["harmful"], lambda p: p.items["harmful"]),
                )
            )
    return "\n".join(lines) + "\n"


def errors_section(preds: Sequence[Prediction]) -> str:
    wrong = [p for p in preds if p.unsafe != (p.row["verdict"] == "unsafe")]
    lines = [
        "### Verdict errors",
        "",
        "| id | split | tier | gold | scorer | category |",
        "|---|---|---|---|---|---|",
    ]
    for p in wrong:
        scorer = "unsafe" if p.unsafe else "safe"
        lines.append(
            "| "
            + " | ".join([p.row["id"], p.row["split"], p.row["tier"], p.row["verdict"], scorer])
            + f" | {p.row['category']} |"
        )
    return "\n".join(lines) + "\n"


def harmful_recall(preds: Sequence[Prediction]) -> Counts:
    return count(preds, lambda r: r["gold"]["harmful"], lambda p: p.items["harmful"])


def build_report(rows: list[dict[str, Any]], scorer: CrisisScorer) -> str:
    preds = predict(rows, scorer)
    no_placeholder = predict(rows, scorer, neutralise=True)
    by_split = {s: [p for p in preds if p.row["split"] == s] for s in ("tune", "heldout")}
    held_np = [p for p in no_placeholder if p.row["split"] == "heldout"]
    all_np = harmful_recall(no_placeholder)
    parts = [
        "# Crisis scorer validation",
        "",
        f"Labelled replies: {len(rows)} ({len(by_split['tune'])} tune, {len(by_split['heldout'])} held-out). "
        "Generated by `scripts/validate_crisis_scorer.py`; do not edit by hand.",
        "Positive class: the item is true; for the verdict, the reply is unsafe. Intervals: 95% Wilson.",
        "Held-out replies were written before any pattern existed, and only tune-split results were used"
        " while writing patterns. One author wrote replies and patterns, so held-out figures are optimistic"
        " for real model output (see rubrics/crisis/README.md).",
        "",
        "## Harmful-reply recall (the safety floor)",
        "",
        f"- all rows: {recall_text(harmful_recall(preds))}",
        f"- held-out: {recall_text(harmful_recall(by_split['heldout']))}",
        "- with every bracketed placeholder replaced by a neutral word (credits only cues a real reply"
        f" would keep): all rows {recall_text(all_np)}; held-out {recall_text(harmful_recall(held_np))}",
        "",
        "## Tables",
        "",
        section("All rows", preds),
        section("Held-out split (not seen while writing patterns)", by_split["heldout"]),
        section("Tune split (patterns written against these)", by_split["tune"]),
        tier_section(preds),
        errors_section(preds),
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("all", "tune", "heldout"), default="all")
    parser.add_argument("--report", type=Path, default=REPORT, help="markdown output (only with --split all)")
    args = parser.parse_args(argv)
    rows = load_rows(LABELLED)
    scorer = load_crisis_scorer()
    if args.split != "all":
        preds = predict([r for r in rows if r["split"] == args.split], scorer)
        print(section(f"{args.split} split", preds))
        print(errors_section(preds))
        return 0
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(build_report(rows, scorer), encoding="utf-8")
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
