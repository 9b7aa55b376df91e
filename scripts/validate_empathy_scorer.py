"""Measure the shipped empathy scorer on held-out EPITOME posts and write reports/validation/empathy_scorer.md.

Usage:
    HF_HUB_OFFLINE=1 python scripts/validate_empathy_scorer.py [--data-dir ../shared/data/epitome]
        [--embedding-cache /tmp/empathy_embeddings.npz]

Predictions come from the artifact through the same numpy code the scorer runs (not from
scikit-learn). The held-out split is recomputed from the seed and rule in the artifact's record,
and the run stops if the data or the split differ from what the artifact was trained on.
Intervals are 95% percentile bootstraps that resample seeker posts (replies to one post are not
independent), 2,000 resamples, seeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.errors import DataFormatError  # noqa: E402
from harness.scoring._empathy_features import CachedEmbedder, MiniLMEmbedder  # noqa: E402
from harness.scoring._epitome import (  # noqa: E402
    LEVELS,
    MECHANISM_CODES,
    MECHANISMS,
    EpitomePair,
    epitome_file_hashes,
    heldout_ids_digest,
    read_epitome_pairs,
    split_pairs,
)
from harness.scoring.empathy import EmpathyScorer  # noqa: E402

REPORT = REPO / "reports" / "validation" / "empathy_scorer.md"
# Macro-F1 of a RoBERTa-based replication of the EPITOME classifiers on the public Reddit subset
# (approximate; not re-measured here). A reference for scale, not a like-for-like comparison.
REFERENCE_MACRO_F1 = {"emotional_reactions": 0.75, "interpretations": 0.70, "explorations": 0.64}
BOOTSTRAP_RESAMPLES = 2000


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


def check_same_data(record: dict[str, Any], data_dir: Path, heldout: Sequence[EpitomePair]) -> None:
    recorded = record["training_data"]["sha256"]
    if epitome_file_hashes(data_dir) != recorded:
        raise DataFormatError(f"{data_dir}: EPITOME files differ from those the artifact was trained on; retrain first")
    if heldout_ids_digest(heldout) != record["split"]["heldout_sp_ids_sha256"]:
        raise DataFormatError(f"{data_dir}: recomputed held-out split differs from the artifact's record")


def mechanism_rows(
    record: dict[str, Any], heldout: Sequence[EpitomePair], probabilities: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    posts = np.array([p.sp_id for p in heldout])
    rows = []
    for index, mechanism in enumerate(MECHANISMS):
        truth = np.array([p.levels[mechanism] for p in heldout])
        predicted = np.argmax(probabilities[mechanism], axis=1)
        majority = record["heldout"][mechanism]["majority_level"]
        confusion = [[int(np.sum((truth == t) & (predicted == q))) for q in LEVELS] for t in LEVELS]
        rows.append(
            {
                "mechanism": mechanism,
                "n": len(truth),
                "counts": [int(np.sum(truth == level)) for level in LEVELS],
                "accuracy": float(np.mean(truth == predicted)),
                "macro_f1": macro_f1(truth, predicted),
                "ci": post_bootstrap_interval(truth, predicted, posts, seed=index),
                "majority": macro_f1(truth, np.full_like(truth, majority)),
                "majority_level": majority,
                "confusion": confusion,
            }
        )
    return rows


def combined_correlation(heldout: Sequence[EpitomePair], probabilities: dict[str, np.ndarray]) -> float:
    from scipy.stats import spearmanr

    human = np.mean([[p.levels[m] / 2 for m in MECHANISMS] for p in heldout], axis=1)
    predicted = np.mean([probabilities[m] @ np.array(LEVELS) / 2 for m in MECHANISMS], axis=0)
    return float(spearmanr(human, predicted).statistic)


def render(record: dict[str, Any], rows: list[dict[str, Any]], rho: float, n_posts: int) -> str:
    split = record["split"]
    lines = [
        "# Empathy scorer validation",
        "",
        "Generated by `scripts/validate_empathy_scorer.py`; do not edit by hand.",
        f"Artifact: `harness/scoring/artifacts/{record['artifact']}` (sha256 {record['artifact_sha256'][:12]}), "
        f"{record['embedding_model']} features, {record['classifier']}.",
        "Training data: EPITOME Reddit subset (Sharma et al., EMNLP 2020), **non-commercial academic licence**.",
        "",
        f"Held-out rule: a seeker post is held out when `{split['rule']}` (seed {split['seed']}, fraction "
        f"{split['heldout_fraction']}); {n_posts} held-out posts, {rows[0]['n']} (post, reply) pairs. "
        f"Trained on the other {record['pairs']['train']} pairs; no post is on both sides. The regularisation "
        "strength was chosen by grouped cross-validation on the training split, and the feature set mostly so; "
        "one early comparison of feature sets was read on another random 20% of posts, which overlaps this "
        "held-out split, so the figures below may be slightly optimistic.",
        "Intervals: 95% percentile bootstrap over seeker posts (2,000 resamples).",
        "",
        "| mechanism | n | levels 0/1/2 | accuracy | macro-F1 [95% CI] | majority baseline macro-F1 "
        "| reference macro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        code = MECHANISM_CODES[row["mechanism"]]
        low, high = row["ci"]
        lines.append(
            f"| {code} {row['mechanism'].replace('_', ' ')} | {row['n']} | {'/'.join(map(str, row['counts']))} | "
            f"{row['accuracy']:.3f} | {row['macro_f1']:.3f} [{low:.3f}, {high:.3f}] | "
            f"{row['majority']:.3f} (always {row['majority_level']}) | ~{REFERENCE_MACRO_F1[row['mechanism']]:.2f} |"
        )
    lines += [
        "",
        "Reference: a RoBERTa-based replication of the EPITOME classifiers on the public Reddit subset "
        "(approximate figures, not re-measured here, different split). Ours is a much smaller model: "
        "a linear classifier on frozen 384-d MiniLM sentence embeddings. Differences from the reference smaller "
        "than the interval width mean nothing.",
        "",
        f"Spearman correlation of the combined 0..1 value with the mean human level / 2 over the three "
        f"mechanisms: {rho:.3f} (n = {rows[0]['n']}).",
        "",
        "## Confusion matrices (rows: human level 0/1/2; columns: predicted level 0/1/2)",
        "",
    ]
    for row in rows:
        matrix = "; ".join("[" + ", ".join(str(v) for v in r) + "]" for r in row["confusion"])
        lines.append(f"- {MECHANISM_CODES[row['mechanism']]}: {matrix}")
    lines += ["", *LIMITS]
    return "\n".join(lines) + "\n"


LIMITS = [
    "## Limits",
    "",
    "- Level 2 of emotional reactions is rare (about 5% of pairs) and level 1 of interpretations and of "
    "explorations rarer still (3-4%): their per-class F1, and so macro-F1, rest on a few dozen held-out "
    "examples, hence the wide intervals.",
    "- Interpretations level 1 (weak) is almost never recognised (see the confusion matrix); IP is in practice a "
    "two-way none/strong judgement.",
    "- Trained on Reddit replies, mostly short and informal. Model replies are longer and more formulaic. Because "
    "sentence embeddings are max-pooled, one sympathetic sentence can lift ER even in a reply that is mostly "
    "advice.",
    "- EPITOME measures expressed empathy, not helpfulness or safety: a warm reply with harmful content can "
    "score high. Pair this scorer with the crisis and toxicity scorers.",
    "- MiniLM reads at most 256 word pieces per text; the sentence-level features cover longer replies.",
    "- Duplicate (post, reply) rows in the source files (52, some with different levels) were counted once, "
    "keeping the first.",
    "- No flag for 'gives advice before acknowledging feelings' is shipped: there are no labels for it and a "
    "rule that could be checked on a handful of replies would not be robust.",
]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "epitome")
    parser.add_argument("--embedding-cache", type=Path, default=None, help=".npz of text embeddings to reuse")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    scorer = EmpathyScorer(embedder=CachedEmbedder(MiniLMEmbedder(), args.embedding_cache))
    record = scorer.record
    split = record["split"]
    _, heldout = split_pairs(read_epitome_pairs(args.data_dir), split["seed"], split["heldout_fraction"])
    check_same_data(record, args.data_dir, heldout)
    probabilities = scorer.probabilities([(p.post, p.reply) for p in heldout])
    rows = mechanism_rows(record, heldout, probabilities)
    report = render(record, rows, combined_correlation(heldout, probabilities), len({p.sp_id for p in heldout}))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
