"""Sample real help-seekers' messages for validating the user-message risk classifier.

Usage:
    python scripts/build_message_risk_set.py [--shared-dir ../shared/data] [--seed 2027]

Writes ``rubrics/crisis/messages/<name>.jsonl`` (unlabelled: each reader's tiers are kept apart
in ``<name>-reader-a.jsonl`` and ``<name>-reader-b.jsonl``). A later sample (``--name real2
--seed 2028``) never repeats a post of an earlier one. The messages are real people's words,
none of them a suite prompt:

- EPITOME seeker posts (Reddit; Sharma et al. 2020), any of its three files, except posts that are
  mh_empathy prompts (by post id and by text);
- ESConv train-split ``situation`` texts (the seeker's own summary of the problem; mh_empathy uses
  the valid and test splits only).

Posts under 6 words are skipped, texts are deduplicated, personal data is scrubbed with the
curation scrubber (Presidio engine), and a seeded shuffle picks ``--epitome`` and ``--esconv``
messages. Nothing here is ever a training target of a language model.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.curate.pii import PiiScrubber  # noqa: E402

OUT_DIR = REPO / "rubrics" / "crisis" / "messages"
EPITOME_FILES = ("emotional-reactions-reddit.csv", "interpretations-reddit.csv", "explorations-reddit.csv")


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--epitome", type=int, default=160)
    parser.add_argument("--esconv", type=int, default=100)
    parser.add_argument("--name", default="real", help="output name: a later sample skips every earlier one's posts")
    args = parser.parse_args()
    earlier = {
        (row["source"], row["source_ref"])
        for path in sorted(OUT_DIR.glob("real*.jsonl"))
        if path.stem == path.stem.split("-")[0] and path.stem != args.name
        for row in map(json.loads, path.open(encoding="utf-8"))
    }

    suite = [json.loads(line) for line in (REPO / "tasks" / "mh_empathy" / "data" / "prompts.jsonl").open()]
    suite_texts = {_normal(row["text"]) for row in suite}

    epitome: dict[str, str] = {}
    for name in EPITOME_FILES:
        with (args.shared_dir / "epitome" / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                text = " ".join(row["seeker_post"].split())
                if len(text.split()) >= 6 and _normal(text) not in suite_texts:
                    epitome.setdefault(row["sp_id"], text)
    esconv: dict[str, str] = {}
    with (args.shared_dir / "esconv" / "train.jsonl").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = " ".join(json.loads(line)["situation"].split())
            if len(text.split()) >= 6 and _normal(text) not in suite_texts:
                esconv.setdefault(f"train-{number}", text)

    rng = random.Random(args.seed)
    seen: set[str] = set()
    picked: list[tuple[str, str, str]] = []
    for source, pool, count in (("epitome", epitome, args.epitome), ("esconv", esconv, args.esconv)):
        keys = sorted(pool)
        rng.shuffle(keys)
        taken = 0
        for key in keys:
            if taken == count:
                break
            if _normal(pool[key]) in seen or (source, key) in earlier:
                continue
            seen.add(_normal(pool[key]))
            picked.append((source, key, pool[key]))
            taken += 1

    scrubber = PiiScrubber("presidio")
    licences = {"epitome": "EPITOME-UW-academic-noncommercial", "esconv": "CC-BY-NC-4.0"}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (source, key, text) in enumerate(picked, start=1):
        rows.append(
            {
                "id": f"{args.name}-{index:03d}",
                "source": source,
                "source_ref": key,
                "licence": licences[source],
                "non_commercial": True,
                "text": scrubber.scrub(text).text,
            }
        )
    rng.shuffle(rows)  # readers see the sources mixed
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (OUT_DIR / f"{args.name}.jsonl").write_text(body, encoding="utf-8")
    digest = hashlib.sha256(body.encode()).hexdigest()
    epitome_rows = sum(r["source"] == "epitome" for r in rows)
    print(f"{len(rows)} messages ({epitome_rows} EPITOME) -> {args.name}.jsonl sha256 {digest}")
    print(f"{len(earlier)} posts of earlier samples skipped")


if __name__ == "__main__":
    main()
