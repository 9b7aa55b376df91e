"""Measure the toxicity scorer candidates on held-out data and write ``reports/validation/toxicity_scorer.md``.

Usage:
    HF_HUB_OFFLINE=1 python scripts/validate_toxicity_scorer.py [--embedding-cache /tmp/mindgate-embeddings]

Candidates: the shipped embedding classifier ("default"), alt-profanity-check, and the larger of the
two probabilities ("max of both"). Held-out sets: the test parts of the split recorded in the
artifact (rebuilt here from the same files, whose sha256s must match the record), and the project's
mental-health self-disclosure set, where every row is non-toxic and any flag is a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from toxicity_report_tables import (  # noqa: E402
    Candidate,
    discrimination_table,
    false_positive_table,
    flagged_rows,
    reliability_markdown,
    summary_table,
    threshold_table,
)
from train_toxicity_scorer import SOURCES, TrainConfig, embed_cached, load_splits  # noqa: E402

from harness.errors import DataFormatError  # noqa: E402
from harness.scoring._toxicity_artifact import load_artifact  # noqa: E402
from harness.scoring._toxicity_data import file_sha256  # noqa: E402
from harness.scoring._toxicity_embed import MiniLMEmbedder  # noqa: E402
from harness.scoring._toxicity_eval import best_f1_threshold  # noqa: E402
from harness.scoring.toxicity import ToxicityScorer  # noqa: E402

SELF_DISCLOSURE = REPO / "rubrics" / "toxicity" / "self_disclosure.jsonl"
MENTAL_ILLNESS_HATE = REPO / "rubrics" / "toxicity" / "mental_illness_hate.jsonl"
REPORT = REPO / "reports" / "validation" / "toxicity_scorer.md"
PROFANITY_THRESHOLD = 0.5  # the cut-off of profanity_check.predict()


def profanity_probabilities(texts: Sequence[str]) -> np.ndarray:
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def check_training_files(config: TrainConfig, record: dict) -> None:
    """The split can only be rebuilt from the very files the classifier was trained on."""
    recorded = record["training_data"]
    for name, path in (("davidson", config.davidson_csv), ("counselchat", config.counselchat_csv)):
        if file_sha256(path) != recorded[name]["sha256"]:
            raise DataFormatError(
                f"{path}: sha256 differs from the artifact's record; retrain or use the recorded file"
            )


def split_config(record: dict, cache: Path | None) -> TrainConfig:
    return TrainConfig(seed=record["split"]["seed"], split=tuple(record["split"]["fractions"]), embedding_cache=cache)


@dataclass(frozen=True)
class Measurements:
    candidates: list[Candidate]
    labels: dict[str, np.ndarray]
    sd_rows: list[dict]
    hate_rows: list[dict]
    dev_f1_threshold: float
    record: dict


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(cache: Path | None) -> Measurements:
    artifact = load_artifact()
    record = artifact.record
    config = split_config(record, cache)
    check_training_files(config, record)
    splits = load_splits(config)
    embedder = MiniLMEmbedder(num_threads=config.num_threads)
    classifier = artifact.classifier

    def default_probs(texts: tuple[str, ...]) -> np.ndarray:
        vectors = embed_cached(embedder, texts, cache)
        return classifier.toxic_probability(classifier.class_probabilities(vectors))

    sd_rows, hate_rows = read_jsonl(SELF_DISCLOSURE), read_jsonl(MENTAL_ILLNESS_HATE)
    sd_texts, hate_texts = [r["text"] for r in sd_rows], [r["text"] for r in hate_rows]
    texts = {name: splits[name].test.texts for name in SOURCES}
    labels = {name: splits[name].test.is_toxic for name in SOURCES}
    # The project's own sets go through the scorer's public path, end to end.
    scorer = ToxicityScorer()
    default = {name: default_probs(texts[name]) for name in SOURCES}
    profanity = {name: profanity_probabilities(texts[name]) for name in SOURCES}
    for name, own_texts in (("self_disclosure", sd_texts), ("mental_illness_hate", hate_texts)):
        default[name] = np.array([s.value for s in scorer.score_batch(own_texts)])
        profanity[name] = profanity_probabilities(own_texts)
    dev_texts = tuple(t for name in SOURCES for t in splits[name].dev.texts)
    dev_labels = np.concatenate([splits[name].dev.is_toxic for name in SOURCES])
    dev_f1 = best_f1_threshold(dev_labels, default_probs(dev_texts))
    candidates = [
        Candidate("default (MiniLM + LR)", artifact.threshold, default),
        Candidate("alt-profanity-check", PROFANITY_THRESHOLD, profanity),
        Candidate(
            "max of both",
            artifact.threshold,
            {k: np.maximum(default[k], profanity[k]) for k in default},
        ),
    ]
    return Measurements(candidates, labels, sd_rows, hate_rows, dev_f1, record)


def header_section(m: Measurements) -> list[str]:
    record, threshold = m.record, m.candidates[0].threshold
    return [
        "# Toxicity scorer validation",
        "",
        "Generated by `scripts/validate_toxicity_scorer.py`; do not edit by hand. Positive class: toxic "
        "(Davidson hate or offensive; ToxiGen hate). Intervals: AUROC 95% percentile bootstrap (1,000 "
        "resamples); proportions 95% Wilson. ECE: 10 equal-width bins.",
        "",
        f"Artifact: `harness/scoring/artifacts/toxicity_v1.npz` (sha256 `{record['arrays']['sha256'][:16]}...`), "
        f"threshold {threshold:.2f}; split seed {record['split']['seed']}, fractions "
        f"{record['split']['fractions']} (train/dev/test); sizes {json.dumps(record['split']['sizes'])}. "
        f"Hyper-parameters: {json.dumps(record['hyper_parameters'])}.",
        "",
    ]


def choice_section(m: Measurements, sd_user: np.ndarray) -> list[str]:
    return [
        "## Which default, and why",
        "",
        "The default backend is the embedding classifier (MiniLM sentence embeddings + multinomial logistic "
        "regression trained on Davidson, ToxiGen demonstrations and CounselChat). Figures at each candidate's "
        "threshold (sets and intervals below):",
        "",
        summary_table(m.candidates, m.labels, sd_user),
        "",
        "On Davidson tweets profanity-check ranks better, but that figure is inflated: it was trained on all of "
        "Davidson, these test rows included. On hate without swear words (ToxiGen; the project's sentences "
        "about mental illness) the embedding classifier catches far more, and it flags fewer plain "
        "mental-health disclosures, which in this project are exactly the texts a toxicity scorer must not "
        'punish. Taking the larger of the two probabilities ("max of both") inherits profanity-check\'s '
        'flags on disclosures such as "I want to die", so the candidates are not combined.',
        "",
    ]


def held_out_section(m: Measurements) -> list[str]:
    default, profanity = m.candidates[0], m.candidates[1]
    return [
        "## Held-out discrimination and calibration",
        "",
        "**Read these next to their limits.** Davidson labels are crowd-sourced majority votes on tweets, noisy "
        "(most rows have only 3 annotators) and dialect-biased: tweets in African-American English are labelled "
        "offensive far more often (Sap et al. 2019; Davidson et al. 2019), so a classifier that matches these "
        "labels inherits that bias. 83% of Davidson rows are toxic, far above the rate in model replies. "
        "**alt-profanity-check was trained on the whole Davidson data set** (its README), so its Davidson row "
        "is not a held-out figure but an optimistic one. ToxiGen demonstrations are short, machine-written "
        "sentences; the ToxiGen test part has few rows, hence wide intervals.",
        "",
        discrimination_table(m.candidates, m.labels, ("davidson", "toxigen")),
        "",
        "The default classifier is trained with toxic and non-toxic rows weighted equally, so its probability is "
        "a posterior under an even prior: on Davidson, where 83% are toxic, it under-predicts (see the table "
        "below), and its Brier score is worse than a Davidson-fitted model's would be. This is deliberate: "
        "calibrated to Davidson's prior, the score would call most neutral text probably toxic.",
        "",
        reliability_markdown(default, m.labels["davidson"], default.probabilities["davidson"]),
        "",
        reliability_markdown(profanity, m.labels["davidson"], profanity.probabilities["davidson"]),
        "",
        "## Threshold",
        "",
        f'The default threshold is {default.threshold:.2f}: with an even prior, "more likely toxic than not". '
        f"The threshold with the best F1 on the dev parts would be {m.dev_f1_threshold:.3f}, driven by "
        "Davidson's 83% toxic rate; it buys recall on tweets with many more false positives on disclosures:",
        "",
        threshold_table(
            default, m.labels, np.array([r["kind"] != "supportive_reply" for r in m.sd_rows]), m.dev_f1_threshold
        ),
        "",
    ]


def domain_section(m: Measurements, sd_user: np.ndarray) -> list[str]:
    default = m.candidates[0]
    n_cc = len(m.labels["counselchat"])
    return [
        "## Mental-health false positives",
        "",
        f"`rubrics/toxicity/self_disclosure.jsonl`: {len(m.sd_rows)} non-toxic texts written for this project: "
        f"{int(sd_user.sum())} user messages (self-disclosures of suicidal thoughts, self-harm, depression, "
        "trauma, psychosis, eating problems, substance use, and help-seeking questions; "
        f"{sum(r['profanity'] for r in m.sd_rows)} of them with casual swearing) and "
        f"{int((~sd_user).sum())} supportive replies that mention suicide or self-harm. Any flag is a false "
        f"positive. Also: {n_cc} held-out CounselChat questions and answers (question groups never trained on).",
        "",
        false_positive_table(m.candidates, m.sd_rows, n_cc),
        "",
        "The self-disclosure set was written before the classifier was trained. CounselChat negatives were added "
        "to training after the Davidson+ToxiGen model was seen to flag about a fifth of these disclosures, and "
        "the CounselChat weight was compared on this set among four values, so the default's rates here are "
        "somewhat optimistic; the CounselChat held-out row is not affected.",
        "",
        f"Disclosures the default flags at {default.threshold:.2f}:",
        "",
        flagged_rows(default, m.sd_rows, "self_disclosure"),
        "",
        "## Hate about mental illness",
        "",
        f"`rubrics/toxicity/mental_illness_hate.jsonl`: {len(m.hate_rows)} toxic sentences written for this "
        "project, none used for training or for choosing the shipped hyper-parameters (stereotypes, "
        "dehumanising language, calls for exclusion, mockery, insults aimed at a person's mental health): the "
        "kind of text the mh_toxicity task must catch in a reply. Recall is in the summary table above. In a "
        "side comparison on the same embeddings, doubling the ToxiGen weight raised recall here to about 0.88 "
        "and the disclosure flag rate to about 0.14: the two sets pull against each other, and the shipped "
        "weights were fixed before this set existed.",
        "",
        f"Sentences the default misses at {default.threshold:.2f}:",
        "",
        flagged_rows(default, m.hate_rows, "mental_illness_hate", missed=True),
        "",
    ]


LIMITS = [
    "## Limits",
    "",
    "- Davidson labels are noisy and dialect-biased (above); every Davidson figure inherits that.",
    "- The classifier sees one 384-d sentence embedding per text, truncated at 256 word pieces: a short "
    "toxic sentence inside a long, otherwise kind reply is diluted, and anything past the cut is unseen.",
    '- It rates topic and tone, not intent: swearing in a disclosure, quoted abuse ("my ex called me '
    'crazy") and body words can push a benign message over the threshold; blunt hate phrased calmly '
    '("lock up every schizophrenic") can pass under it.',
    "- Training covers English tweets, short synthetic ToxiGen sentences and CounselChat posts; other "
    "registers (long assistant replies, other languages) are out of distribution.",
    "- The self-disclosure and mental-illness hate sets were written by one author for this project; they are "
    "small, so their rates carry wide intervals, and real users and models write more varied text.",
    '- Use `backend="detoxify"` with local files for a stronger transformer classifier when available.',
    "",
]


def render(m: Measurements) -> str:
    sd_user = np.array([r["kind"] != "supportive_reply" for r in m.sd_rows])
    sections = [header_section(m), choice_section(m, sd_user), held_out_section(m), domain_section(m, sd_user)]
    return "\n".join(line for section in [*sections, LIMITS] for line in section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-cache", type=Path, default=None, help="embedding cache shared with training")
    parser.add_argument("--report", type=Path, default=REPORT, help="where to write the markdown report")
    args = parser.parse_args(argv)
    measurements = measure(args.embedding_cache)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(render(measurements), encoding="utf-8")
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
