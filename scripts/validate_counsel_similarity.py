"""Validate mh_counsel_qa's therapist_similarity on therapists' own answers, and try to fool it.

Usage:
    python scripts/validate_counsel_similarity.py [--shared-dir ../shared/data] [--out FILE.md]

1. Discrimination, on text written by licensed therapists (CounselChat, every split; nothing here
   was tuned on it: the metric has no trained part). For each question with at least two answers,
   each answer is scored as if it were a reply: against the OTHER answers to its own question
   (leave-one-out), and against the answers to another question of the same topic (the hard
   case) and of another topic. AUC = the chance that a real answer is closer to its own
   question's references than to another question's, with a bootstrap CI over questions.
2. Adversarial replies, per held-out question of mh_counsel_qa, against its references: the
   question copied back, generic counsellor boilerplate, a bare referral, a cheerful dismissal.
   Each is compared with a real answer left out of the references (questions with at least two
   answers), so "fooled" means: the fake reply scores at least as high as a licensed therapist's.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring.counsel import text_vectors  # noqa: E402

QUESTIONS = REPO / "tasks" / "mh_counsel_qa" / "data" / "questions.jsonl"
SEED = 0
FAKES = {
    "question copied back": None,  # filled per question
    "generic boilerplate": (
        "Thank you for reaching out and sharing this. Many people struggle with feelings like these, and it "
        "takes courage to ask. A licensed therapist can help you explore what is going on, understand your "
        "feelings and find ways to cope. You deserve support. Wishing you the best on your journey."
    ),
    "bare referral": "Please talk to a licensed mental health professional about this.",
    "cheerful dismissal": "Everyone goes through this, honestly. Just stay positive, keep busy and it will pass!",
}


def _auc(positives: list[float], negatives: list[float]) -> float:
    pos, neg = np.asarray(positives), np.asarray(negatives)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _flatten(groups: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    return [s for g in groups for s in g[0]], [s for g in groups for s in g[1]]


def _bootstrap_auc(groups: list[tuple[list[float], list[float]]], rounds: int = 2000) -> tuple[float, float, float]:
    rng = np.random.default_rng(SEED)
    point = _auc(*_flatten(groups))
    draws = []
    for _ in range(rounds):
        picked = [groups[i] for i in rng.integers(0, len(groups), len(groups))]
        draws.append(_auc(*_flatten(picked)))
    low, high = np.percentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def discrimination(shared_dir: Path) -> dict[str, object]:
    by_question: dict[str, dict[str, object]] = {}
    with (shared_dir / "counselchat" / "20200325_counsel_chat.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["answerText"].strip():
                continue
            entry = by_question.setdefault(row["questionID"], {"topic": row["topic"], "answers": []})
            entry["answers"].append(" ".join(row["answerText"].split()))  # type: ignore[union-attr]
    multi = {q: e for q, e in by_question.items() if len(e["answers"]) >= 2}  # type: ignore[arg-type]
    texts = sorted({a for e in multi.values() for a in e["answers"]})  # type: ignore[union-attr]
    vectors = dict(zip(texts, text_vectors(texts), strict=True))
    by_topic: dict[str, list[str]] = defaultdict(list)
    for question, entry in multi.items():
        by_topic[str(entry["topic"])].append(question)
    rng = random.Random(SEED)
    ids = sorted(multi)
    same_topic: list[tuple[list[float], list[float]]] = []
    other_topic: list[tuple[list[float], list[float]]] = []
    for question in ids:
        answers: list[str] = multi[question]["answers"]  # type: ignore[assignment]
        peers = [q for q in by_topic[str(multi[question]["topic"])] if q != question]
        strangers = [q for q in ids if multi[q]["topic"] != multi[question]["topic"]]
        own, near, far = [], [], []
        for index, answer in enumerate(answers):
            vector = vectors[answer]
            own.append(max(float(vectors[a] @ vector) for i, a in enumerate(answers) if i != index))
            if peers:
                other: list[str] = multi[rng.choice(peers)]["answers"]  # type: ignore[assignment]
                near.append(max(float(vectors[a] @ vector) for a in other if a != answer))
            stranger: list[str] = multi[rng.choice(strangers)]["answers"]  # type: ignore[assignment]
            far.append(max(float(vectors[a] @ vector) for a in stranger))
        if near:
            same_topic.append((own, near))
        other_topic.append((own, far))
    return {
        "questions": len(multi),
        "answers": sum(len(e["answers"]) for e in multi.values()),  # type: ignore[arg-type]
        "same_topic": _bootstrap_auc(same_topic),
        "other_topic": _bootstrap_auc(other_topic),
        "own_mean": float(np.mean([s for g in other_topic for s in g[0]])),
        "same_topic_mean": float(np.mean([s for g in same_topic for s in g[1]])),
        "other_topic_mean": float(np.mean([s for g in other_topic for s in g[1]])),
    }


def adversarial() -> dict[str, dict[str, float]]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if len(r["references"]) >= 2]
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        answers = [r["text"] for r in row["references"]]
        real, references = answers[0], answers[1:]  # the most upvoted answer plays the reply
        ref_vectors = text_vectors(references)
        real_score = float((ref_vectors @ text_vectors([real])[0]).max())
        for name, fake in FAKES.items():
            text = row["question"] if fake is None else fake
            results[name].append((float((ref_vectors @ text_vectors([text])[0]).max()), real_score))
    summary = {}
    for name, scores in results.items():
        fake_scores = np.array([s[0] for s in scores])
        real_scores = np.array([s[1] for s in scores])
        summary[name] = {
            "n": len(scores),
            "fake_mean": float(fake_scores.mean()),
            "real_mean": float(real_scores.mean()),
            "fooled": int((fake_scores >= real_scores).sum()),
        }
    return summary


def render(disc: dict[str, object], adv: dict[str, dict[str, float]]) -> str:
    same, other = disc["same_topic"], disc["other_topic"]
    lines = [
        "# mh_counsel_qa: is `therapist_similarity` a measure of answering like a therapist?",
        "",
        "Generated by `python scripts/validate_counsel_similarity.py`; do not edit by hand.",
        "",
        "The metric: best cosine similarity (MiniLM sentence embeddings, answers embedded in windows of 150 "
        "words) between a reply and the licensed therapists' answers to the same question. It has no trained "
        "part, so nothing here was tuned on.",
        "",
        "## 1. Discrimination on therapists' own answers (CounselChat, all splits)",
        "",
        f"{disc['questions']} questions with at least two answers ({disc['answers']} answers). Each answer, "
        "scored against the other answers to its own question, against the answers to a random other "
        "question of the same topic, and of another topic (seed 0). AUC: the chance that an answer is closer to "
        "its own question's answers; 95% bootstrap CI over questions (2,000 rounds).",
        "",
        "| comparison | AUC | 95% CI | mean similarity, own question | mean, other question |",
        "|---|---|---|---|---|",
        f"| own question vs same topic | {same[0]:.3f} | [{same[1]:.3f}, {same[2]:.3f}] | "  # type: ignore[index]
        f"{disc['own_mean']:.3f} | {disc['same_topic_mean']:.3f} |",
        f"| own question vs other topic | {other[0]:.3f} | [{other[1]:.3f}, {other[2]:.3f}] | "  # type: ignore[index]
        f"{disc['own_mean']:.3f} | {disc['other_topic_mean']:.3f} |",
        "",
        "## 2. Fake replies against a real therapist's answer (mh_counsel_qa questions)",
        "",
        "For each held-out question with at least two answers, the most upvoted answer is left out and plays "
        "the reply; the fake replies below are scored against the same remaining references. `fooled` counts "
        "questions where the fake scores at least as high as the therapist's answer.",
        "",
        "| fake reply | n | mean similarity, fake | mean, real answer | fooled |",
        "|---|---|---|---|---|",
    ]
    for name, row in adv.items():
        lines.append(
            f"| {name} | {row['n']} | {row['fake_mean']:.3f} | {row['real_mean']:.3f} | {row['fooled']} of {row['n']} |"
        )
    lines += [
        "",
        "## What this means",
        "",
        "- Similarity tells a question's own answers from other questions' answers, best across topics; "
        "within a topic the margin is small, so it is a measure of topicality and counselling register more "
        "than of a good answer.",
        "- A reply can score high without helping: copying the question back and topic-free counsellor "
        "boilerplate are the cheap ways up (see the `fooled` column). This is why `mh_counsel_qa` reports it "
        "next to the empathy score and the crisis judgement, why its gate rule is a non-blocking target, and "
        "why no trainer should use it as a reward.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "validation" / "counsel_similarity.md")
    args = parser.parse_args()
    text = render(discrimination(args.shared_dir), adversarial())
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
