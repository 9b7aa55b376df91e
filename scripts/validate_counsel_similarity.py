"""Validate mh_counsel_qa's therapist_similarity on therapists' own answers, and try to fool it.

Usage:
    python scripts/validate_counsel_similarity.py [--shared-dir ../shared/data] [--out FILE.md]

Two measures side by side: the plain cosine of sentence embeddings (reply vs each therapist's
answer, best match) and the residual cosine the task uses (the same after removing the component
along the question's embedding; harness/scoring/counsel.py).

1. Discrimination, on text written by licensed therapists (CounselChat). For a question with at
   least two answers, each answer plays a reply to it and is scored against the question's OTHER
   answers; so is an answer to a different question (of the same topic: the hard case; of another
   topic). AUC = the chance that the question's own answer scores higher; 95% bootstrap CI over
   questions. Reported on the train split (where the residual variant was chosen) and on the
   held-out val and test splits (reported only).
2. Adversarial replies, per held-out question of mh_counsel_qa with at least two answers: the
   question copied back, the question echoed inside counsellor boilerplate, boilerplate alone, a
   bare referral, a cheerful dismissal. Each is compared with the most upvoted therapist answer
   left out of the references: "fooled" means the fake scores at least as high.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring.counsel import combined_similarity, text_vectors  # noqa: E402

QUESTIONS = REPO / "tasks" / "mh_counsel_qa" / "data" / "questions.jsonl"
SEED = 0
BOILERPLATE = (
    "Thank you for reaching out and sharing this. Many people struggle with feelings like these, and it "
    "takes courage to ask. A licensed therapist can help you explore what is going on, understand your "
    "feelings and find ways to cope. You deserve support. Wishing you the best on your journey."
)
FAKES: dict[str, str] = {
    "question copied back": "{question}",
    "question echoed in boilerplate": "You wrote: {question} " + BOILERPLATE,
    "generic boilerplate": BOILERPLATE,
    "bare referral": "Please talk to a licensed mental health professional about this.",
    "cheerful dismissal": "Everyone goes through this, honestly. Just stay positive, keep busy and it will pass!",
}
MEASURES = ("plain", "residual", "combined")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _question_text(row: dict[str, str]) -> str:
    title, body = _clean(row["questionTitle"]), _clean(row["questionText"])
    return body or title if not body or body.lower().startswith(title.lower()) else f"{title}\n\n{body}"


def _scores(measure: str, replies: np.ndarray, references: np.ndarray, question: np.ndarray) -> np.ndarray:
    """Best match over ``references`` for each reply vector."""
    return np.asarray(combined_similarity(replies, references, question)[measure].max(axis=1))


def _auc(positives: list[float], negatives: list[float]) -> float:
    pos, neg = np.asarray(positives), np.asarray(negatives)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _flatten(groups: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    return [s for g in groups for s in g[0]], [s for g in groups for s in g[1]]


def _bootstrap_auc(groups: list[tuple[list[float], list[float]]], rounds: int = 2000) -> tuple[float, float, float]:
    rng = np.random.default_rng(SEED)
    point = _auc(*_flatten(groups))
    draws = [_auc(*_flatten([groups[i] for i in rng.integers(0, len(groups), len(groups))])) for _ in range(rounds)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def _read_questions(shared_dir: Path) -> dict[str, dict[str, Any]]:
    questions: dict[str, dict[str, Any]] = {}
    with (shared_dir / "counselchat" / "20200325_counsel_chat.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["answerText"].strip():
                continue
            entry = questions.setdefault(
                row["questionID"],
                {"topic": row["topic"], "split": row["split"], "question": _question_text(row), "answers": []},
            )
            entry["answers"].append(_clean(row["answerText"]))
    return questions


def discrimination(questions: dict[str, dict[str, Any]], splits: tuple[str, ...]) -> dict[str, Any]:
    multi = {q: e for q, e in questions.items() if e["split"] in splits and len(e["answers"]) >= 2}
    pool = {q: e for q, e in questions.items() if e["split"] in splits}
    texts = sorted({a for e in pool.values() for a in e["answers"]} | {e["question"] for e in pool.values()})
    vectors = dict(zip(texts, text_vectors(texts), strict=True))
    by_topic: dict[str, list[str]] = defaultdict(list)
    for question, entry in pool.items():
        by_topic[entry["topic"]].append(question)
    rng = random.Random(SEED)
    ids = sorted(pool)
    groups: dict[tuple[str, str], list[tuple[list[float], list[float]]]] = defaultdict(list)
    for question in sorted(multi):
        entry = multi[question]
        answers = entry["answers"]
        q_vector = vectors[entry["question"]]
        peers = [q for q in by_topic[entry["topic"]] if q != question]
        strangers = [q for q in ids if pool[q]["topic"] != entry["topic"]]
        # the same negatives for both measures: an answer to a question of the same topic, and of another
        negatives = [
            (
                rng.choice(pool[rng.choice(peers)]["answers"]) if peers else None,
                rng.choice(pool[rng.choice(strangers)]["answers"]),
            )
            for _ in answers
        ]
        for measure in MEASURES:
            own: list[float] = []
            near: list[float] = []
            far: list[float] = []
            for index, answer in enumerate(answers):
                references = np.stack([vectors[a] for i, a in enumerate(answers) if i != index])
                own.append(float(_scores(measure, vectors[answer][None, :], references, q_vector)[0]))
                same_topic, other_topic = negatives[index]
                if same_topic is not None:
                    near.append(float(_scores(measure, vectors[same_topic][None, :], references, q_vector)[0]))
                far.append(float(_scores(measure, vectors[other_topic][None, :], references, q_vector)[0]))
            if near:
                groups[(measure, "same topic")].append((own, near))
            groups[(measure, "other topic")].append((own, far))
    return {
        "questions": len(multi),
        "answers": sum(len(e["answers"]) for e in multi.values()),
        "auc": {key: _bootstrap_auc(value) for key, value in sorted(groups.items())},
    }


def held_out_items() -> list[tuple[str, list[str]]]:
    """(question, answers most upvoted first) of mh_counsel_qa, as shipped (scrubbed)."""
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    return [(r["question"], [a["text"] for a in r["references"]]) for r in rows]


def adversarial(items: list[tuple[str, list[str]]]) -> dict[str, dict[str, dict[str, float]]]:
    items = [(question, answers) for question, answers in items if len(answers) >= 2]
    fakes_of = {q: [template.format(question=q) for template in FAKES.values()] for q, _ in items}
    texts = sorted(
        {q for q, _ in items}
        | {a for _, answers in items for a in answers}
        | {f for fakes in fakes_of.values() for f in fakes}
    )
    vectors = dict(zip(texts, text_vectors(texts), strict=True))  # one batch: much faster than per question
    results: dict[str, dict[str, list[tuple[float, float]]]] = {m: defaultdict(list) for m in MEASURES}
    for question, answers in items:
        q_vector = vectors[question]
        real = vectors[answers[0]][None, :]
        references = np.stack([vectors[a] for a in answers[1:]])
        fakes = np.stack([vectors[f] for f in fakes_of[question]])
        for measure in MEASURES:
            real_score = float(_scores(measure, real, references, q_vector)[0])
            for name, score in zip(FAKES, _scores(measure, fakes, references, q_vector), strict=True):
                results[measure][name].append((float(score), real_score))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for measure, by_fake in results.items():
        summary[measure] = {}
        for name, scores in by_fake.items():
            fake_scores = np.array([s[0] for s in scores])
            real_scores = np.array([s[1] for s in scores])
            summary[measure][name] = {
                "n": len(scores),
                "fake_mean": float(fake_scores.mean()),
                "real_mean": float(real_scores.mean()),
                "fooled": int((fake_scores >= real_scores).sum()),
            }
    return summary


def _auc_rows(result: dict[str, Any]) -> list[str]:
    rows = []
    for (measure, comparison), (point, low, high) in result["auc"].items():
        rows.append(
            f"| {measure} | own answer vs an answer to another question, {comparison} | {point:.3f} | "
            f"[{low:.3f}, {high:.3f}] |"
        )
    return rows


def _fake_rows(adv: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = []
    for measure, by_fake in adv.items():
        for name, row in by_fake.items():
            lines.append(
                f"| {measure} | {name} | {row['n']} | {row['fake_mean']:.3f} | {row['real_mean']:.3f} | "
                f"{row['fooled']} of {row['n']} ({row['fooled'] / row['n']:.0%}) |"
            )
    return lines


def render(
    dev: dict[str, Any],
    held: dict[str, Any],
    adv_dev: dict[str, dict[str, dict[str, float]]],
    adv_held: dict[str, dict[str, dict[str, float]]],
) -> str:
    lines = [
        "# mh_counsel_qa: is `therapist_similarity` a measure of answering like a therapist?",
        "",
        "Generated by `python scripts/validate_counsel_similarity.py`; do not edit by hand.",
        "",
        "Two measures: **plain**, the best cosine similarity of sentence embeddings (MiniLM, texts embedded "
        "in windows of 150 words) between a reply and the licensed therapists' answers to the same question; "
        "and **residual**, the same after removing from every vector its component along the question's "
        "embedding; and **combined**, their geometric mean per reference (what the task reports, "
        "`harness/scoring/counsel.py`). None has a trained part. The plain measure was tried first; the fake "
        "replies below showed that echoing the question beats a therapist, and the combined measure was "
        "chosen on the train split's figures (the least fooled on average over the five fakes). The held-out "
        "figures were not used to choose (the plain measure's held-out fake-reply figures were seen first, "
        "which is what prompted the search).",
        "",
        "## 1. Discrimination on therapists' own answers (CounselChat)",
        "",
        "For a question with at least two answers, each answer plays a reply and is scored against the "
        "question's other answers; so is an answer to a random other question (seed 0), of the same topic or "
        "of another. AUC: the chance that the question's own answer scores higher. 95% bootstrap CI over "
        "questions (2,000 rounds).",
        "",
        f"Train split (where the measure was chosen): {dev['questions']} questions, {dev['answers']} answers.",
        "",
        "| measure | comparison | AUC | 95% CI |",
        "|---|---|---|---|",
        *_auc_rows(dev),
        "",
        f"Held-out val and test splits (reported only): {held['questions']} questions, {held['answers']} answers.",
        "",
        "| measure | comparison | AUC | 95% CI |",
        "|---|---|---|---|",
        *_auc_rows(held),
        "",
        "## 2. Fake replies against a real therapist's answer",
        "",
        "For each question with at least two answers, the most upvoted answer is left out and plays the reply; "
        "each fake reply is scored against the same remaining references. `fooled`: questions where the fake "
        "scores at least as high as the therapist's answer.",
        "",
        "Train split (where the measure was chosen: the least fooled on average over the five fakes):",
        "",
        "| measure | fake reply | n | mean, fake | mean, real answer | fooled |",
        "|---|---|---|---|---|---|",
        *_fake_rows(adv_dev),
        "",
        "Held-out: the questions of mh_counsel_qa (reported only):",
        "",
        "| measure | fake reply | n | mean, fake | mean, real answer | fooled |",
        "|---|---|---|---|---|---|",
        *_fake_rows(adv_held),
    ]
    lines += [
        "",
        "## Reading it",
        "",
        "- Compare the measures' AUCs: what removing the question's direction costs in telling a question's "
        "own answers from other questions' answers, against what it buys in the fake-reply tables.",
        "- No measure of this kind knows whether advice is good. It reports closeness to what therapists "
        "wrote, next to the empathy score and the crisis judgement; its gate rule is a non-blocking target, "
        "and no trainer should use it as a reward.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "validation" / "counsel_similarity.md")
    args = parser.parse_args()
    questions = _read_questions(args.shared_dir)
    dev_items = [(e["question"], e["answers"]) for e in questions.values() if e["split"] == "train"]
    text = render(
        discrimination(questions, ("train",)),
        discrimination(questions, ("val", "test")),
        adversarial(dev_items),
        adversarial(held_out_items()),
    )
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
