"""Assemble the labelled crisis-safety pairs into rubrics/crisis/pairs/{train,tune,heldout}.jsonl.

Usage:
    .venv/bin/python scripts/assemble_crisis_pairs.py --raw DIR [--seed 2026]
    .venv/bin/python scripts/assemble_crisis_pairs.py --add DIR [--seed 2026]

DIR holds the labelling work (see rubrics/crisis/pairs/README.md):
- ``writer-*.jsonl``: pairs written and labelled by the project's writers (schema of LABELLING.md:
  id, message_id, tier, topic, message, reply, labels, construction, note);
- ``public-input.jsonl`` + ``public-labels.jsonl``: pairs from public data sets
  (scripts/build_crisis_public_pairs.py) and their labels (tier, topic, labels);
- ``model-input.jsonl`` + ``model-labels.jsonl``: sampled replies of real models (scripts/sample_replies.py
  output, flattened) and their labels.

Splits are by user message, so no message is in two splits. Messages of the mh_crisis suite
(tasks/mh_crisis/data/prompts.jsonl) always go to ``heldout``: the classifier never trains or
chooses a threshold on a reply to a message it will judge in the suite. Every other message goes
to train / tune / heldout by a seeded hash of its id (65 / 20 / 15 %). The adversarial split
(``adversarial-*.jsonl`` in DIR, written by other writers after the classifier was trained, same
schema as the writers' files) goes whole to rubrics/crisis/pairs/adversarial.jsonl; nothing trains
or chooses a threshold on it. Re-running with the same inputs gives byte-identical files.

``--add DIR`` adds a later round of labelling work to the committed files instead of rebuilding
them: its ``writer-*.jsonl`` rows are split by the same rule and merged into train / tune /
heldout, and its ``adversarial-*.jsonl`` rows become a new adversarial file
(``adversarial-<round>.jsonl``, the round named by the files' suffix); rows already committed are
left as they are, and an id or message id that is already taken stops the run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._crisis_classifier import HARM_LABELS, LABELS  # noqa: E402
from harness.scrub import scrub_personal_data  # noqa: E402

OUT_DIR = REPO / "rubrics" / "crisis" / "pairs"
SUITE_PROMPTS = REPO / "tasks" / "mh_crisis" / "data" / "prompts.jsonl"
LICENCES = {
    "written": "Apache-2.0 (project)",
    "counselchat": "MIT (CounselChat)",
    "esconv": "CC BY-NC 4.0 (ESConv): non-commercial",
    "failed-esconv": "CC BY-NC 4.0 (ESConv): non-commercial",
    "hh-rlhf-harmless": "MIT (Anthropic HH-RLHF)",
    "model-sample": "model output (SmolLM2-135M-Instruct, Apache-2.0)",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_of(message_id: str, seed: int, suite_ids: set[str]) -> str:
    if message_id in suite_ids:
        return "heldout"
    value = int.from_bytes(hashlib.sha256(f"crisis-split:{seed}:{message_id}".encode()).digest()[:8], "big") / 2**64
    return "train" if value < 0.65 else "tune" if value < 0.85 else "heldout"


def _row(base: dict[str, Any], labels: dict[str, int], **fields: Any) -> dict[str, Any]:
    missing = set(LABELS) - set(labels)
    if missing:
        raise ValueError(f"{base['id']}: labels lack {sorted(missing)}")
    return {
        **base,
        "labels": {label: int(labels[label]) for label in LABELS},
        "harmful": int(any(labels[label] for label in HARM_LABELS)),
        **fields,
    }


def written_rows(raw: Path, pattern: str = "writer-*.jsonl") -> list[dict[str, Any]]:
    rows = []
    for path in sorted(raw.glob(pattern)):
        labeller = f"team-{path.stem.split('-', 1)[1]}"
        for r in read_jsonl(path):
            base = {
                "id": r["id"],
                "message_id": r["message_id"],
                "tier": r["tier"],
                "topic": r["topic"],
                "message": r["message"],
                "reply": r["reply"],
            }
            rows.append(
                _row(
                    base,
                    r["labels"],
                    source="written",
                    labeller=labeller,
                    construction=r["construction"],
                    note=r.get("note", ""),
                )
            )
    return rows


def labelled_rows(inputs: Path, labels: Path, labeller: str) -> list[dict[str, Any]]:
    """Rows whose text comes from one file and whose tier/topic/labels from another, joined by id."""
    if not inputs.is_file() or not labels.is_file():
        return []
    by_id = {r["id"]: r for r in read_jsonl(labels)}
    rows = []
    for r in read_jsonl(inputs):
        if r["id"] not in by_id:
            raise ValueError(f"{labels}: no label for {r['id']}")
        lab = by_id[r["id"]]
        base = {
            "id": r["id"],
            "message_id": r.get("message_id") or f"{r['source']}:{r['id']}",
            "tier": r.get("tier") or lab["tier"],
            "topic": r.get("topic") or lab["topic"],
            "message": scrub_personal_data(r["message"]),
            "reply": scrub_personal_data(r["reply"]),
        }
        extra = {k: r[k] for k in ("source_ref", "provenance") if k in r}
        rows.append(
            _row(
                base,
                lab["labels"],
                source=r["source"],
                labeller=labeller,
                construction="",
                note=lab.get("note", ""),
                **extra,
            )
        )
    return rows


def _write(split_file: str, chosen: list[dict[str, Any]]) -> None:
    with (OUT_DIR / split_file).open("w", encoding="utf-8") as handle:
        for row in sorted(chosen, key=lambda r: r["id"]):
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    harmful = sum(r["harmful"] for r in chosen)
    messages = len({r["message_id"] for r in chosen})
    print(f"{split_file}: {len(chosen)} pairs, {messages} messages, {harmful} harmful")


def add_round(raw: Path, seed: int) -> int:
    """Merge a later round of written rows into the committed files (see the module doc)."""
    suite_ids = {r["id"] for r in read_jsonl(SUITE_PROMPTS)}
    split_files = [OUT_DIR / f"{split}.jsonl" for split in ("train", "tune", "heldout")]
    committed = {path.name: read_jsonl(path) for path in [*split_files, *sorted(OUT_DIR.glob("adversarial*.jsonl"))]}
    taken = {key for rows in committed.values() for r in rows for key in (r["id"], r["message_id"])}
    new_rows = written_rows(raw)
    rounds: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(raw.glob("adversarial-*.jsonl")):
        rounds[f"adversarial-{path.stem.split('-', 1)[1]}.jsonl"] = written_rows(raw, path.name)
    incoming = new_rows + [r for rows in rounds.values() for r in rows]
    ids = Counter(r["id"] for r in incoming)
    if clash := sorted(({r["id"] for r in incoming} | {r["message_id"] for r in incoming}) & taken):
        raise SystemExit(f"{raw}: ids already committed: {clash[:5]}")
    if duplicated := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"{raw}: duplicate ids: {duplicated[:5]}")
    for name in rounds:
        if name in committed:
            raise SystemExit(f"{OUT_DIR / name} exists; name the new round's files differently")
    for row in new_rows:
        row["split"], row["licence"] = split_of(row["message_id"], seed, suite_ids), LICENCES[row["source"]]
    for split in ("train", "tune", "heldout"):
        added = [r for r in new_rows if r["split"] == split]
        if added:
            _write(f"{split}.jsonl", committed[f"{split}.jsonl"] + added)
    for name, rows in rounds.items():
        for row in rows:
            row["split"], row["licence"] = name.removesuffix(".jsonl"), LICENCES["written"]
        _write(name, rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw", type=Path, help="rebuild every file from this folder of labelling work")
    source.add_argument("--add", type=Path, help="add this folder's later round to the committed files")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.add:
        return add_round(args.add, args.seed)
    suite_ids = {r["id"] for r in read_jsonl(SUITE_PROMPTS)}
    rows = [
        *written_rows(args.raw),
        *labelled_rows(args.raw / "public-input.jsonl", args.raw / "public-labels.jsonl", "team-p"),
        *labelled_rows(args.raw / "model-input.jsonl", args.raw / "model-labels.jsonl", "team-m"),
    ]
    ids = Counter(r["id"] for r in rows)
    duplicated = [i for i, n in ids.items() if n > 1]
    if duplicated:
        raise SystemExit(f"duplicate ids: {duplicated[:5]}")
    by_split: dict[str, list[dict[str, Any]]] = {"train": [], "tune": [], "heldout": []}
    for row in rows:
        row["split"] = split_of(row["message_id"], args.seed, suite_ids)
        row["licence"] = LICENCES[row["source"]]
        by_split[row["split"]].append(row)
    adversarial = written_rows(args.raw, "adversarial-*.jsonl")
    if adversarial:
        seen = {r["message_id"] for r in rows} | set(ids)
        if clash := sorted(({r["message_id"] for r in adversarial} | {r["id"] for r in adversarial}) & seen):
            raise SystemExit(f"adversarial rows reuse ids of the other splits: {clash[:5]}")
        for row in adversarial:
            row["split"], row["licence"] = "adversarial", LICENCES["written"]
        by_split["adversarial"] = adversarial
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split, chosen in by_split.items():
        _write(f"{split}.jsonl", chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
