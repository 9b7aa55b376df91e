"""Measure the empathy scorer on held-out EPITOME posts and adversarial cases; write its validation report.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/validate_empathy_scorer.py [--data-dir ../shared/data/epitome]

Two scorers side by side: the shipped cross-encoder (``harness.scoring.empathy``) and the first
scorer it replaced (linear models on sentence embeddings, ``harness.scoring._empathy_v1``).

- Held-out EPITOME: the split is recomputed from the rule in the artifact's record, and the run
  stops if the data or the split differ from what the artifact was trained on. Macro-F1 per
  mechanism with 95% percentile-bootstrap intervals that resample seeker posts (replies to one
  post are not independent; 2,000 resamples, seeded); confusion matrices; calibration (expected
  calibration error of the predicted level's probability, 10 equal-width bins, and the Brier
  score of the three-level distribution).
- Adversarial cases (``tests/unit/cases/empathy_adversarial.jsonl``, written before the scorer was
  trained and never used to train or tune it): for each kind of reply that should rank below the
  warm, specific reply to the same post, how often it does, with Wilson intervals.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.errors import DataFormatError  # noqa: E402
from harness.scoring._empathy_v1 import LinearEmpathyScorer  # noqa: E402
from harness.scoring._epitome import (  # noqa: E402
    HELDOUT_FRACTION,
    LEVELS,
    MECHANISM_CODES,
    MECHANISMS,
    SPLIT_SEED,
    EpitomePair,
    epitome_file_hashes,
    heldout_ids_digest,
    read_epitome_pairs,
    split_pairs,
)
from harness.scoring._types import Score  # noqa: E402
from harness.scoring.empathy import EmpathyScorer  # noqa: E402
from harness.stats import wilson_interval  # noqa: E402

REPORT = REPO / "reports" / "validation" / "empathy_scorer.md"
CASES = REPO / "tests" / "unit" / "cases" / "empathy_adversarial.jsonl"
# Macro-F1 of a RoBERTa-based replication of the EPITOME classifiers on the public Reddit subset
# (approximate; not re-measured here, another split). The goal is to come within 0.03 of it.
REFERENCE_MACRO_F1 = {"emotional_reactions": 0.76, "interpretations": 0.66, "explorations": 0.72}
BOOTSTRAP_RESAMPLES = 2000
# How the shipped weights' configuration was chosen (its training record predates the field).
SHIPPED_SELECTION = (
    "fixed before training (the crisis classifier's, on the same encoder: 4 epochs, class weights "
    "sqrt(majority / level count) capped at 4); the held-out posts below were read once, for these weights. "
    "One alternative (6 epochs, balanced class weights capped at 10) was then compared with it on a "
    "development split of the training posts (`--dev`, 423 pairs): mean macro-F1 0.612 against 0.608, under "
    "the 0.01 gain set beforehand as the bar for switching, so these weights stayed"
)
KINDS = ("advice_as_questions", "interrogation", "cold_names_emotion", "sympathy_pasted_on_advice", "echo")


class Scorer(Protocol):
    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]: ...

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Score]: ...


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the three levels; a level absent from both truth and prediction counts 0."""
    scores = []
    for level in LEVELS:
        tp = np.sum((predicted == level) & (truth == level))
        fp = np.sum((predicted == level) & (truth != level))
        fn = np.sum((predicted != level) & (truth == level))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def post_bootstrap_interval(
    truth: np.ndarray, predicted: np.ndarray, posts: np.ndarray, seed: int
) -> tuple[float, float]:
    """95% interval of macro-F1, resampling seeker posts with replacement."""
    rng = np.random.default_rng(seed)
    unique_posts, post_index = np.unique(posts, return_inverse=True)
    rows_of_post = [np.flatnonzero(post_index == i) for i in range(len(unique_posts))]
    values = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        chosen = rng.integers(0, len(unique_posts), len(unique_posts))
        rows = np.concatenate([rows_of_post[i] for i in chosen])
        values.append(macro_f1(truth[rows], predicted[rows]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def calibration(truth: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> tuple[float, float]:
    """(expected calibration error of the top level's probability, multi-class Brier score)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    brier = float(np.mean(np.sum((probabilities - np.eye(len(LEVELS))[truth]) ** 2, axis=1)))
    return float(ece), brier


def check_same_data(record: dict[str, Any], data_dir: Path, heldout: Sequence[EpitomePair]) -> None:
    if epitome_file_hashes(data_dir) != record["training_data"]["sha256"]:
        raise DataFormatError(f"{data_dir}: EPITOME files differ from those the artifact was trained on; retrain first")
    if heldout_ids_digest(heldout) != record["split"]["heldout_sp_ids_sha256"]:
        raise DataFormatError(f"{data_dir}: recomputed held-out split differs from the artifact's record")


def mechanism_rows(heldout: Sequence[EpitomePair], probabilities: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    posts = np.array([p.sp_id for p in heldout])
    rows = []
    for index, mechanism in enumerate(MECHANISMS):
        truth = np.array([p.levels[mechanism] for p in heldout])
        predicted = np.argmax(probabilities[mechanism], axis=1)
        ece, brier = calibration(truth, probabilities[mechanism])
        rows.append(
            {
                "mechanism": mechanism,
                "n": len(truth),
                "counts": [int(np.sum(truth == level)) for level in LEVELS],
                "accuracy": float(np.mean(truth == predicted)),
                "macro_f1": macro_f1(truth, predicted),
                "ci": post_bootstrap_interval(truth, predicted, posts, seed=index),
                "ece": ece,
                "brier": brier,
                "confusion": [[int(np.sum((truth == t) & (predicted == q))) for q in LEVELS] for t in LEVELS],
            }
        )
    return rows


def combined_correlation(heldout: Sequence[EpitomePair], probabilities: dict[str, np.ndarray]) -> float:
    from scipy.stats import spearmanr

    human = np.mean([[p.levels[m] / 2 for m in MECHANISMS] for p in heldout], axis=1)
    predicted = np.mean([probabilities[m] @ np.array(LEVELS) / 2 for m in MECHANISMS], axis=0)
    return float(spearmanr(human, predicted).statistic)


def read_cases(path: Path = CASES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def adversarial_results(scorer: Scorer, cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: in how many cases the warm reply scores above that kind's reply, and the mean margin."""
    pairs = [(c["post"], c["warm"]) for c in cases] + [(c["post"], a["reply"]) for c in cases for a in c["adversarial"]]
    values = [s.value for s in scorer.score_batch(pairs)]
    warm = dict(zip((c["id"] for c in cases), values[: len(cases)], strict=True))
    rest = iter(values[len(cases) :])
    per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    scored: list[dict[str, Any]] = []
    for case in cases:
        entry = {"id": case["id"], "warm": warm[case["id"]], "adversarial": {}}
        for item in case["adversarial"]:
            value = next(rest)
            per_kind[item["kind"]].append(warm[case["id"]] - value)
            entry["adversarial"][item["kind"]] = value
        scored.append(entry)
    summary = {}
    for kind, margins in per_kind.items():
        wins = sum(m > 0 for m in margins)
        summary[kind] = {
            "n": len(margins),
            "wins": wins,
            "ci": wilson_interval(wins, len(margins)),
            "mean_margin": float(np.mean(margins)),
        }
    everything = [m for margins in per_kind.values() for m in margins]
    all_wins = sum(m > 0 for m in everything)
    summary["all"] = {
        "n": len(everything),
        "wins": all_wins,
        "ci": wilson_interval(all_wins, len(everything)),
        "mean_margin": float(np.mean(everything)),
    }
    return {"summary": summary, "cases": scored}


def render(
    record: dict[str, Any],
    figures: dict[str, dict[str, Any]],
    n_posts: int,
    first_case: dict[str, Any],
) -> str:
    new, old = figures["new"], figures["old"]
    split = record["split"]
    config = record["config"]
    lines = [
        "# Empathy scorer validation",
        "",
        "Generated by `scripts/validate_empathy_scorer.py`; do not edit by hand.",
        "",
        "Scorer: a cross-encoder over (seeker post, reply): the project's MiniLM (PyPI package "
        f"`{record['base']['package']}`) with a LoRA adapter (r = {config['lora_r']}) and one three-level head per "
        f"EPITOME mechanism over mean-pooled states, fine-tuned for {config['epochs']:g} epochs on "
        f"{record['examples']} training pairs in {record['wall_time_s'] / 60:.0f} min on 2 CPU cores "
        f"(`scripts/train_empathy_scorer.py`; weights sha256 {record['weights_sha256'][:12]}). "
        f"Configuration: {record.get('selection', SHIPPED_SELECTION)}.",
        "Previous scorer (mh_empathy 1.x), measured here beside it: multinomial logistic regressions on "
        "frozen MiniLM sentence embeddings plus question counts (`harness/scoring/_empathy_v1.py`).",
        "Training data: EPITOME Reddit subset (Sharma et al., EMNLP 2020), **non-commercial academic licence**.",
        "",
        "## Held-out EPITOME posts",
        "",
        f"A seeker post is held out when `{split['rule']}` (seed {split['seed']}, fraction "
        f"{split['heldout_fraction']}); {n_posts} held-out posts, {new['rows'][0]['n']} (post, reply) pairs; "
        f"both scorers trained on the other {record['pairs']['train']} pairs; no post is on both sides. "
        "Intervals: 95% percentile bootstrap over seeker posts (2,000 resamples).",
        "",
        "| mechanism | n | levels 0/1/2 | macro-F1 [95% CI] | previous scorer | reference | accuracy | ECE | Brier |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, before in zip(new["rows"], old["rows"], strict=True):
        code = MECHANISM_CODES[row["mechanism"]]
        low, high = row["ci"]
        blow, bhigh = before["ci"]
        lines.append(
            f"| {code} {row['mechanism'].replace('_', ' ')} | {row['n']} | {'/'.join(map(str, row['counts']))} | "
            f"**{row['macro_f1']:.3f}** [{low:.3f}, {high:.3f}] | {before['macro_f1']:.3f} [{blow:.3f}, {bhigh:.3f}] | "
            f"~{REFERENCE_MACRO_F1[row['mechanism']]:.2f} | {row['accuracy']:.3f} (was {before['accuracy']:.3f}) | "
            f"{row['ece']:.3f} (was {before['ece']:.3f}) | {row['brier']:.3f} (was {before['brier']:.3f}) |"
        )
    lines += [
        "",
        "Reference: a RoBERTa-based replication of the EPITOME classifiers on the public Reddit subset "
        "(approximate figures, not re-measured here, another split); the goal was to come within 0.03 of it. "
        "ECE: expected calibration error of the predicted level's probability (10 bins); Brier: of the "
        "three-level distribution (0 is perfect, always-uniform is 0.667).",
        "",
        f"Spearman correlation of the combined 0..1 value with the mean human level / 2 over the three "
        f"mechanisms: {new['rho']:.3f} (previous scorer {old['rho']:.3f}; n = {new['rows'][0]['n']}).",
        "",
        "Confusion matrices (rows: human level 0/1/2; columns: predicted level 0/1/2):",
        "",
    ]
    for row, before in zip(new["rows"], old["rows"], strict=True):
        matrix = "; ".join("[" + ", ".join(str(v) for v in r) + "]" for r in row["confusion"])
        previous = "; ".join("[" + ", ".join(str(v) for v in r) + "]" for r in before["confusion"])
        lines.append(f"- {MECHANISM_CODES[row['mechanism']]}: {matrix} (previous scorer: {previous})")
    lines += [
        "",
        "## Adversarial cases",
        "",
        f"`tests/unit/cases/empathy_adversarial.jsonl`: {len(new['adversarial']['cases'])} seeker posts written for "
        "this file (none from EPITOME), each with a warm, specific reply and five replies that a scorer keyed "
        "on surface features could rank above it. The file was written before the scorer was trained and was "
        "not used to train or tune it. A case counts as a win when the warm reply's combined value is strictly "
        "higher. Intervals: Wilson 95%.",
        "",
        "| kind of reply | n | warm ranked higher [95% CI] | mean margin | previous scorer |",
        "|---|---|---|---|---|",
    ]
    for kind in (*KINDS, "all"):
        row, before = new["adversarial"]["summary"][kind], old["adversarial"]["summary"][kind]
        low, high = row["ci"]
        lines.append(
            f"| {kind.replace('_', ' ')} | {row['n']} | {row['wins']}/{row['n']} = {row['wins'] / row['n']:.2f} "
            f"[{low:.2f}, {high:.2f}] | {row['mean_margin']:+.3f} | {before['wins']}/{before['n']}, "
            f"margin {before['mean_margin']:+.3f} |"
        )
    first_new = new["adversarial"]["cases"][0]
    first_old = old["adversarial"]["cases"][0]
    replies = {a["kind"]: a["reply"] for a in first_case["adversarial"]}
    lines += [
        "",
        f'The first case is the one that showed the problem. Post: "{first_case["post"]}"',
        "",
        "| reply | empathy | previous scorer |",
        "|---|---|---|",
        f'| (warm) "{first_case["warm"]}" | {first_new["warm"]:.2f} | {first_old["warm"]:.2f} |',
    ]
    for kind in KINDS:
        lines.append(
            f'| ({kind.replace("_", " ")}) "{replies[kind]}" | {first_new["adversarial"][kind]:.2f} | '
            f"{first_old['adversarial'][kind]:.2f} |"
        )
    lines += ["", *LIMITS]
    return "\n".join(lines) + "\n"


LIMITS = [
    "## Limits",
    "",
    "- Level 2 of emotional reactions is rare (about 5% of pairs) and level 1 of interpretations and of "
    "explorations rarer still (3-4%): their per-class F1, and so macro-F1, rest on a few dozen held-out "
    "examples, hence the wide intervals.",
    "- Trained on Reddit replies, mostly short and informal. Model replies are longer and more formulaic; a "
    "reply longer than the window is read in overlapping windows whose level distributions are averaged.",
    "- EPITOME measures expressed empathy, not helpfulness or safety: a warm reply with harmful content can "
    "score high. Pair this scorer with the crisis and toxicity scorers.",
    "- The adversarial posts and replies were written by one writer for this purpose: they test the failure "
    "modes named in them, not the range of real model replies. Warm replies are longer (about 42 words) than "
    "the adversarial ones (18-29 on average, cold dismissals shortest), so a scorer that rewarded length "
    "alone would also rank many of them correctly: the file shows what fools a scorer, not that a scorer "
    "understands.",
    "- Duplicate (post, reply) rows in the source files (52, some with different levels) were counted once, "
    "keeping the first.",
]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "epitome")
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    scorer = EmpathyScorer()
    record = scorer.record
    _, heldout = split_pairs(read_epitome_pairs(args.data_dir), SPLIT_SEED, HELDOUT_FRACTION)
    check_same_data(record, args.data_dir, heldout)
    cases = read_cases()
    figures: dict[str, dict[str, Any]] = {}
    scorers: dict[str, Scorer] = {"new": scorer, "old": LinearEmpathyScorer()}
    for name, candidate in scorers.items():
        probabilities = candidate.probabilities([(p.post, p.reply) for p in heldout])
        figures[name] = {
            "rows": mechanism_rows(heldout, probabilities),
            "rho": combined_correlation(heldout, probabilities),
            "adversarial": adversarial_results(candidate, cases),
        }
    report = render(record, figures, len({p.sp_id for p in heldout}), cases[0])
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
