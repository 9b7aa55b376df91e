"""Build tasks/mh_counsel_qa/data/: questions.jsonl, SOURCE.md and the licence copy.

Usage:
    python scripts/build_counsel_qa.py [--shared-dir ../shared/data] [--tiers tasks/mh_counsel_qa/data/tiers.jsonl]

The questions are CounselChat's held-out splits (``split`` = val or test: 120 questions, 290
therapist answers); the bundled trainers use the train split only. Steps:

1. group the answers by question; the question is the title and the body as the asker wrote them;
2. scrub personal data from questions and answers (the curation scrubber, Presidio engine);
3. decontaminate against the training split: a held-out question that shares a word 8-gram with
   any training question or answer, or whose text is contained whole in one, is dropped (the
   curation rule, harness/curate/decontam.py); a therapist answer that shares an 8-gram with a
   training answer stays a reference but is counted in SOURCE.md;
4. attach each question's risk tier from ``--tiers`` (labels by a reader, see SOURCE.md); a
   question without a label stops the build.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.curate.decontam import SuiteItem, build_index  # noqa: E402
from harness.curate.pii import PiiScrubber  # noqa: E402
from harness.errors import DataFormatError  # noqa: E402

OUT_DIR = REPO / "tasks" / "mh_counsel_qa" / "data"
CSV_NAME = "20200325_counsel_chat.csv"
HELD_OUT = ("val", "test")
TIERS = ("none", "low", "moderate", "high", "imminent")
# "details.Having": a sentence end glued to the next sentence; not "www.DrName.com" or "e.g.The".
_JOINED = re.compile(r"(?<![\w.])(?!www\.)([A-Za-z']*[a-z]{2}[.!?])(?=[A-Z][a-z])")
# "~Mark": a therapist's first-name signature, which the name recognisers miss.
_SIGNATURE = re.compile(r"~\s?[A-Z][a-z]+\b")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    needed = {"questionID", "questionTitle", "questionText", "topic", "answerText", "upvotes", "split"}
    if rows and needed - set(rows[0]):
        raise DataFormatError(f"{path}: missing columns {', '.join(sorted(needed - set(rows[0])))}")
    return rows


def _clean(text: str) -> str:
    """Whitespace collapsed; a space restored where the scrape lost a line break ("details.Having")."""
    return _SIGNATURE.sub("~[name]", _JOINED.sub(r"\1 ", " ".join(text.split())))


def _question_text(row: dict[str, str]) -> str:
    title = _clean(row["questionTitle"])
    body = _clean(row["questionText"])
    if not body or body.lower().startswith(title.lower()):
        return body or title
    return f"{title}\n\n{body}"


def _read_tiers(path: Path) -> dict[str, str]:
    tiers: dict[str, str] = {}
    if not path.is_file():
        return tiers
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("tier") not in TIERS:
            raise DataFormatError(f"{path}:{number}: field 'tier' is {row.get('tier')!r}; expected one of {TIERS}")
        tiers[str(row["id"])] = row["tier"]
    return tiers


def build(shared_dir: Path, tiers_path: Path, questions_only: Path | None) -> dict[str, Any]:
    source = shared_dir / "counselchat" / CSV_NAME
    rows = _read_rows(source)
    train_items = []
    held: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for number, row in enumerate(rows, start=2):
        if row["split"] == "train":
            train_items.append(SuiteItem(f"train-question:{row['questionID']}", _question_text(row)))
            train_items.append(SuiteItem(f"train-answer:{number}", row["answerText"], whole=False))
        elif row["split"] in HELD_OUT:
            qid = f"cc-{int(row['questionID']):04d}"
            held.setdefault(
                qid, {"id": qid, "split": row["split"], "topic": row["topic"], "question": _question_text(row)}
            )
            if row["answerText"].strip():
                answers[qid].append((int(float(row["upvotes"] or 0)), _clean(row["answerText"])))
    index = build_index(train_items)
    answer_index = build_index([i for i in train_items if i.name.startswith("train-answer")])
    scrubber = PiiScrubber("presidio")
    kept, dropped, overlapping_answers, scrubbed_spans = [], [], 0, 0
    for qid in sorted(held):
        item = held[qid]
        hit = index.match(item["question"])
        if hit is not None:
            dropped.append({"id": qid, "overlaps": hit})
            continue
        if not answers[qid]:
            dropped.append({"id": qid, "overlaps": None, "reason": "no therapist answer"})
            continue
        question = scrubber.scrub(item["question"])
        scrubbed_spans += len(question.spans)
        references = []
        for upvotes, text in sorted(answers[qid], key=lambda pair: -pair[0]):
            if answer_index.match(text) is not None:
                overlapping_answers += 1
            clean = scrubber.scrub(text)
            scrubbed_spans += len(clean.spans)
            references.append({"text": clean.text, "upvotes": upvotes})
        kept.append({**item, "question": question.text, "references": references})
    if questions_only is not None:
        questions_only.write_text(
            "".join(json.dumps({"id": k["id"], "question": k["question"]}) + "\n" for k in kept), encoding="utf-8"
        )
        return {"kept": len(kept)}
    tiers = _read_tiers(tiers_path)
    missing = [k["id"] for k in kept if k["id"] not in tiers]
    if missing:
        raise DataFormatError(
            f"{tiers_path}: no tier for {len(missing)} question(s), e.g. {', '.join(missing[:5])}; "
            "label them (see tasks/mh_counsel_qa/data/SOURCE.md) or run with --questions-only to list them"
        )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / "questions.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        for k in kept:
            handle.write(json.dumps({**k, "tier": tiers[k["id"]]}, ensure_ascii=False) + "\n")
    return {
        "source_sha256": _sha256(source),
        "held_out_questions": len(held),
        "kept": len(kept),
        "dropped": dropped,
        "references": sum(len(k["references"]) for k in kept),
        "references_overlapping_training_answers": overlapping_answers,
        "scrubbed_spans": scrubbed_spans,
        "tiers": {t: sum(tiers[k["id"]] == t for k in kept) for t in TIERS},
        "decontamination": index.describe(),
        "scrubber": scrubber.describe(),
        "questions_sha256": _sha256(out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--tiers", type=Path, default=OUT_DIR / "tiers.jsonl")
    parser.add_argument("--questions-only", type=Path, help="write the scrubbed, kept questions here and stop")
    args = parser.parse_args()
    summary = build(args.shared_dir, args.tiers, args.questions_only)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
