"""Validate the crisis judgement layer by layer and write reports/validation/crisis_scorer.md.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/validate_crisis_scorer.py [--judges FILE] [--judge-rows N]

Measures, on every labelled split of rubrics/crisis/pairs/ (tune, heldout, adversarial and each
later adversarial round, adversarial-*.jsonl) and on the
earlier 211 labelled replies (rubrics/crisis/labelled_replies.jsonl), precision and recall with 95%
Wilson intervals per rubric item for: the phrase layer before this version (patterns.yaml as of
mh_crisis 1.0), the phrase layer now, the classifier alone, the combined verdict (what mh_crisis
records) and, with --judges, each LLM judge (on the first N rows of heldout and adversarial,
stratified by harmful/safe). Also: calibration of the classifier, agreement between the two
labellers, the replies of the issue that motivated the classifier, and the scoring cost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._crisis_classifier import HARM_LABELS, LABELS, default_crisis_classifier  # noqa: E402
from harness.scoring._crisis_eval import (  # noqa: E402
    MEASURED_ITEMS,
    calibration,
    gold_items,
    item_counts,
    layer_items,
    rate_text,
)
from harness.scoring._types import Score  # noqa: E402
from harness.scoring.crisis import CRISIS_DIR, CrisisScorer, load_crisis_scorer  # noqa: E402
from harness.stats import cohen_kappa  # noqa: E402

PAIRS = CRISIS_DIR / "pairs"
REPORT = REPO / "reports" / "validation" / "crisis_scorer.md"
SPLITS = ("tune", "heldout", "adversarial")
V1_COMMIT = "741b8a9"  # mh_crisis 1.0: the phrase layer alone


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def legacy_rows() -> list[dict[str, Any]]:
    """The 211 replies labelled for mh_crisis 1.0 (five items), with their suite messages."""
    prompts = {p["id"]: p for p in read_jsonl(REPO / "tasks" / "mh_crisis" / "data" / "prompts.jsonl")}
    rows = []
    for row in read_jsonl(CRISIS_DIR / "labelled_replies.jsonl"):
        gold = row["gold"]
        labels = {label: 0 for label in LABELS}
        labels.update(
            harm_method=int(gold["harmful"]),
            dismissive=int(gold["dismissive"]),
            acknowledges=int(gold["acknowledges"]),
            refusal=int(gold["over_refusal"]),
        )
        rows.append({**row, "message": prompts[row["prompt_id"]]["text"], "labels": labels, "legacy_gold": gold})
    return rows


def v1_phrase_scorer() -> CrisisScorer:
    """The phrase layer as it was in mh_crisis 1.0 (patterns.yaml of that commit), today's rubric."""
    patterns = subprocess.run(
        ["git", "show", f"{V1_COMMIT}:rubrics/crisis/patterns.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="crisis-v1-"))
    for name in ("rubric.yaml", "hotlines.yaml"):
        (folder / name).write_text((CRISIS_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "patterns.yaml").write_text(patterns, encoding="utf-8")
    return load_crisis_scorer(folder)


def legacy_gold(row: Mapping[str, Any], rubric: Any) -> dict[str, bool]:
    gold = {item: bool(row["legacy_gold"][item]) for item in ("harmful", "dismissive", "acknowledges", "refers")}
    gold["over_refusal"] = bool(row["legacy_gold"]["over_refusal"])
    gold.update(asks_about_risk=False, means_restriction=False, unsafe=row["verdict"] == "unsafe")
    return gold


def measure(
    rows: Sequence[dict[str, Any]], scores: Sequence[Score], v1: Sequence[Score], rubric: Any, legacy: bool
) -> dict[str, Any]:
    golds = [legacy_gold(r, rubric) if legacy else gold_items(r, rubric) for r in rows]
    predictions = {
        "phrases v1": [layer_items(s.metadata, "patterns", rubric) for s in v1],
        "phrases": [layer_items(s.metadata, "patterns", rubric) for s in scores],
        "classifier": [layer_items(s.metadata, "classifier", rubric) for s in scores],
        "combined": [layer_items(s.metadata, "combined", rubric) for s in scores],
    }
    items = ("harmful", "dismissive", "acknowledges", "refers", "over_refusal") if legacy else MEASURED_ITEMS
    table = {
        layer: {item: item_counts(rows, golds, preds, item) for item in (*items, "unsafe")}
        for layer, preds in predictions.items()
    }
    safe_practice = [
        i
        for i, r in enumerate(rows)
        if not legacy and not golds[i]["harmful"] and (golds[i]["asks_about_risk"] or golds[i]["means_restriction"])
    ]
    flagged = {layer: sum(preds[i]["harmful"] for i in safe_practice) for layer, preds in predictions.items()}
    return {"golds": golds, "predictions": predictions, "table": table, "safe_practice": (len(safe_practice), flagged)}


def counts_table(result: Mapping[str, Any]) -> list[str]:
    lines = ["| item | layer | n | gold + | precision [95% CI] | recall [95% CI] |", "|---|---|---|---|---|---|"]
    for item in result["table"]["combined"]:
        for layer, by_item in result["table"].items():
            c = by_item[item]
            name = "verdict (unsafe)" if item == "unsafe" else item
            precision, recall = rate_text(c.tp, c.tp + c.fp), rate_text(c.tp, c.positives)
            lines.append(f"| {name} | {layer} | {c.n} | {c.positives} | {precision} | {recall} |")
    return lines


def calibration_lines(rows: Sequence[dict[str, Any]], scores: Sequence[Score]) -> list[str]:
    lines = ["| item | n | positives | ECE | Brier |", "|---|---|---|---|---|"]
    harm = calibration(
        [max(s.metadata["layers"]["classifier"]["probabilities"][h] for h in HARM_LABELS) for s in scores],
        [any(r["labels"][h] for h in HARM_LABELS) for r in rows],
    )
    lines.append(f"| harmful (max of the six) | {harm['n']} | - | {harm['ece']:.3f} | {harm['brier']:.3f} |")
    for label in LABELS:
        cal = calibration(
            [s.metadata["layers"]["classifier"]["probabilities"][label] for s in scores],
            [bool(r["labels"][label]) for r in rows],
        )
        positives = sum(r["labels"][label] for r in rows)
        lines.append(f"| {label} | {cal['n']} | {positives} | {cal['ece']:.3f} | {cal['brier']:.3f} |")
    lines += [
        "",
        "Reliability of the harmful probability:",
        "",
        "| bin | n | mean probability | observed rate |",
        "|---|---|---|---|",
    ]
    lines += [f"| {b['bin']} | {b['n']} | {b['mean_probability']:.2f} | {b['observed']:.2f} |" for b in harm["bins"]]
    return lines


def category_lines(rows: Sequence[dict[str, Any]], result: Mapping[str, Any]) -> list[str]:
    lines = [
        "| harm category (gold) | n | caught as harmful: phrases v1 | classifier | combined |",
        "|---|---|---|---|---|",
    ]
    for label in HARM_LABELS:
        chosen = [i for i, r in enumerate(rows) if r["labels"][label]]
        cells = [
            rate_text(sum(result["predictions"][layer][i]["harmful"] for i in chosen), len(chosen))
            for layer in ("phrases v1", "classifier", "combined")
        ]
        lines.append(f"| {label} | {len(chosen)} | " + " | ".join(cells) + " |")
    return lines


def _label_value(labels: Mapping[str, int], label: str) -> bool:
    return any(labels[h] for h in HARM_LABELS) if label == "harmful" else bool(labels[label])


def kappa_lines() -> list[str]:
    second_path = PAIRS / "second-labels.jsonl"
    if not second_path.is_file():
        return ["No double-labelled rows."]
    second = {r["id"]: r["labels"] for r in read_jsonl(second_path)}
    first = {
        r["id"]: r["labels"] for split in ("train", "tune", "heldout") for r in read_jsonl(PAIRS / f"{split}.jsonl")
    }
    ids = [i for i in second if i in first]
    lines = [
        f"{len(ids)} pairs labelled independently by a second labeller (blind to the first labels).",
        "",
        "| item | positives (first / second) | agreement | Cohen's kappa |",
        "|---|---|---|---|",
    ]
    for label in (*LABELS, "harmful"):
        a, b = [_label_value(first[i], label) for i in ids], [_label_value(second[i], label) for i in ids]
        agree = sum(x == y for x, y in zip(a, b, strict=True))
        lines.append(f"| {label} | {sum(a)} / {sum(b)} | {agree}/{len(ids)} | {cohen_kappa(a, b):.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    scorer = load_crisis_scorer(classifier=default_crisis_classifier())
    rubric = scorer.rubric
    v1 = v1_phrase_scorer()
    sections: list[str] = []
    timings: list[tuple[int, float]] = []
    later_rounds = sorted(path.stem for path in PAIRS.glob("adversarial-*.jsonl"))
    datasets = [
        (split, read_jsonl(PAIRS / f"{split}.jsonl"), False)
        for split in (*SPLITS, *later_rounds)
        if (PAIRS / f"{split}.jsonl").is_file()
    ]
    datasets.append(("earlier 211 labelled replies (mh_crisis 1.0)", legacy_rows(), True))
    summary: dict[str, Any] = {}
    for name, rows, legacy in datasets:
        started = time.perf_counter()
        scores = scorer.score_many([r["reply"] for r in rows], [r["tier"] for r in rows], [r["message"] for r in rows])
        timings.append((len(rows), time.perf_counter() - started))
        v1_scores = v1.score_many([r["reply"] for r in rows], [r["tier"] for r in rows])
        result = measure(rows, scores, v1_scores, rubric, legacy)
        summary[name] = result
        harmful = sum(g["harmful"] for g in result["golds"])
        sections += [
            f"## {name}",
            "",
            f"{len(rows)} pairs, {len({r.get('message_id', r.get('prompt_id')) for r in rows})} messages, "
            f"{harmful} harmful.",
            "",
        ]
        sections += counts_table(result)
        n_safe, flagged = result["safe_practice"]
        if n_safe:
            sections += [
                "",
                f"Safe replies that ask about risk or restrict means (n = {n_safe}) called harmful: "
                + "; ".join(f"{layer} {rate_text(k, n_safe)}" for layer, k in flagged.items()),
            ]
        if not legacy:
            sections += ["", "### Harm categories", "", *category_lines(rows, result)]
            if name != "tune":
                sections += ["", "### Calibration of the classifier", "", *calibration_lines(rows, scores)]
        sections.append("")
    per_reply = sum(t for _, t in timings) / sum(n for n, _ in timings)
    header = [
        "# Crisis judgement validation",
        "",
        "Generated by `scripts/validate_crisis_scorer.py`; do not edit by hand. Intervals: 95% Wilson. "
        "Positive class: the item is true; for the verdict, the reply is unsafe.",
        "Layers: `phrases v1` = the phrase layer of mh_crisis 1.0 alone; `phrases` = today's phrase layer alone; "
        "`classifier` = the model layer alone at the thresholds of rubrics/crisis/classifier.yaml; `combined` = "
        "what mh_crisis records, by the per-signal combination in rubrics/crisis/rubric.yaml (`layers.combine`: "
        + ", ".join(f"{signal} {mode}" for signal, mode in rubric.combine.items())
        + ").",
        f"Scoring cost: {per_reply * 1000:.0f} ms per reply on this machine, both layers, batched "
        f"({sum(n for n, _ in timings)} replies).",
        "",
        "## Agreement between labellers",
        "",
        *kappa_lines(),
        "",
    ]
    args.out.write_text("\n".join(header + sections) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
