"""Sample (message, reply) pairs written by people from public data sets, for labelling.

Usage:
    .venv/bin/python scripts/build_crisis_public_pairs.py --data-dir ../shared/data --out FILE.jsonl [--seed 2026]

Sources (licences in rubrics/crisis/pairs/README.md):
- CounselChat, train split only (the test split is reserved for evaluation): a help-seeker's
  question and one licensed therapist's answer; topics weighted towards depression, self-harm,
  eating disorders, trauma, grief and substance use.
- ESConv (train split) and FailedESConv: the seeker's last turns and the supporter's next turns;
  FailedESConv supporters failed quality control, so their replies are often poor.
- Anthropic HH-RLHF harmless-base test: dialogues whose last human turn mentions a mental-health
  term; the final assistant turn of the chosen and of the rejected branch.

Every text is scrubbed of personal data (harness.scrub). The output rows carry no labels: people
label them by rubrics/crisis/LABELLING.md, and `scripts/assemble_crisis_pairs.py` merges the
labels. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scrub import scrub_personal_data  # noqa: E402

COUNSEL_TOPICS = {
    "depression": 40, "self-harm": 11, "eating-disorders": 10, "trauma": 15, "grief-and-loss": 10,
    "substance-abuse": 12, "anxiety": 20, "self-esteem": 12, "addiction": 5, "stress": 5,
}  # fmt: skip
MH_TERMS = re.compile(
    r"\b(suicid\w*|kill (?:my|your)self|self[- ]harm|cutting|depress\w*|anxiety|anorexi\w*|bulimi\w*|"
    r"overdose|want to die|end (?:my|it all)|hopeless|lonely|therap\w*|mental(?:ly)? ill\w*)\b",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    return scrub_personal_data(text).strip()


def counselchat_pairs(path: Path, rng: random.Random) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "train" and r["answerText"].strip()]
    pairs = []
    for topic, wanted in COUNSEL_TOPICS.items():
        pool = [r for r in rows if r["topic"] == topic]
        for row in rng.sample(pool, min(wanted, len(pool))):
            message = f"{row['questionTitle'].strip()} {row['questionText'].strip()}"
            pairs.append(
                {
                    "id": f"pub-cc-{row['questionID']}-{row['']}",
                    "source": "counselchat",
                    "source_ref": {"questionID": row["questionID"], "row": row[""], "topic": topic},
                    "message": _clean(message),
                    "reply": _clean(row["answerText"]),
                }
            )
    return pairs


def _esconv_turns(dialog: list[dict[str, Any]], failed: bool) -> list[tuple[str, str]]:
    """(speaker role, text) with consecutive turns of one speaker merged."""
    merged: list[tuple[str, str]] = []
    for turn in dialog:
        if failed:
            role = "seeker" if turn["speaker"] == "speaker" else "supporter"
            text = turn["content"]
        else:
            role = "seeker" if turn["speaker"] == "usr" else "supporter"
            text = turn["text"]
        text = " ".join(text.split())
        if merged and merged[-1][0] == role:
            merged[-1] = (role, f"{merged[-1][1]} {text}")
        else:
            merged.append((role, text))
    return merged


def esconv_pairs(data_dir: Path, rng: random.Random, n_ok: int = 60, n_failed: int = 45) -> list[dict[str, Any]]:
    good = [json.loads(line) for line in (data_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    failed = json.loads((data_dir / "FailedESConv.json").read_text(encoding="utf-8"))
    pairs = []
    for name, dialogs, wanted, is_failed in (("esconv", good, n_ok, False), ("failed-esconv", failed, n_failed, True)):
        for index in rng.sample(range(len(dialogs)), wanted):
            turns = _esconv_turns(dialogs[index]["dialog"], is_failed)
            # A seeker turn long enough to say something, answered by the supporter.
            options = [
                i for i in range(1, len(turns)) if turns[i][0] == "supporter" and len(turns[i - 1][1].split()) >= 8
            ]
            if not options:
                continue
            i = rng.choice(options)
            pairs.append(
                {
                    "id": f"pub-{name}-{index}-{i}",
                    "source": name,
                    "source_ref": {"dialog": index, "turn": i, "problem_type": dialogs[index].get("problem_type")},
                    "message": _clean(turns[i - 1][1]),
                    "reply": _clean(turns[i][1]),
                }
            )
    return pairs


def _last_turns(dialogue: str) -> tuple[str, str]:
    parts = re.split(r"\n\n(Human|Assistant): ", "\n\n" + dialogue.strip())
    turns = list(zip(parts[1::2], parts[2::2], strict=True))
    human = next(text for role, text in reversed(turns) if role == "Human")
    assistant = turns[-1][1] if turns[-1][0] == "Assistant" else ""
    return human.strip(), assistant.strip()


def hh_rlhf_pairs(path: Path, rng: random.Random, wanted: int = 60) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    chosen_rows = []
    for index, row in enumerate(rows):
        human, _ = _last_turns(row["chosen"])
        if MH_TERMS.search(human):
            chosen_rows.append(index)
    pairs = []
    for index in sorted(rng.sample(chosen_rows, min(wanted, len(chosen_rows)))):
        for branch in ("chosen", "rejected"):
            human, assistant = _last_turns(rows[index][branch])
            if assistant:
                pairs.append(
                    {
                        "id": f"pub-hh-{index}-{branch}",
                        "source": "hh-rlhf-harmless",
                        "source_ref": {"row": index, "branch": branch},
                        "message": _clean(human),
                        "reply": _clean(assistant),
                    }
                )
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    pairs = [
        *counselchat_pairs(args.data_dir / "counselchat" / "20200325_counsel_chat.csv", rng),
        *esconv_pairs(args.data_dir / "esconv", rng),
        *hh_rlhf_pairs(args.data_dir / "hh-rlhf-harmless-test" / "harmless-base-test.jsonl.gz", rng),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair["source"]] = counts.get(pair["source"], 0) + 1
    print(f"{len(pairs)} pairs -> {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
