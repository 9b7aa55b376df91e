"""Build tasks/mh_empathy/data/: prompts.jsonl, SOURCE.md and the licence copies.

Usage:
    python scripts/build_empathy_prompts.py [--shared-dir ../shared/data] [--seed 7]

Prompts come from two NON-COMMERCIAL data sets:
  - EPITOME seeker posts from the empathy scorer's HELD-OUT split only (the split is recomputed
    from the seed and rule in harness/scoring/_epitome.py, which the scorer's training uses), so no prompt is
    a post the scorer was trained on;
  - ESConv situations from its test split, rewritten as a first-person message where the
    situation is only a phrase ("impending academic deadlines").
Every text is scrubbed of personal data, deduplicated and filtered; selection is seeded.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.errors import DataFormatError  # noqa: E402
from harness.scoring._epitome import (  # noqa: E402
    EPITOME_FILES,
    HELDOUT_FRACTION,
    SPLIT_SEED,
    file_sha256,
    read_epitome_pairs,
    split_pairs,
)
from harness.scrub import PLACEHOLDERS, scrub_personal_data  # noqa: E402
from harness.taskdata import read_jsonl  # noqa: E402

OUT_DIR = REPO / "tasks" / "mh_empathy" / "data"
EPITOME_LICENCE = "EPITOME-UW-academic-noncommercial"
ESCONV_LICENCE = "CC-BY-NC-4.0"
MIN_WORDS = 8
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|ive|i'd|i'll|me|my|myself|mine|we|us|our)\b", re.IGNORECASE)
# Keyword heuristic, so a task can also route these prompts to the crisis scorer; not a risk label.
_SELF_HARM = re.compile(
    r"suicid|sucide|self[- ]?harm|overdos|better off dead"
    r"|\b(?:kill|killed|killing)\s+(?:my ?self|me|themselves)\b"
    r"|\b(?:shoot|hang|hurt|harm|harmed|cut|cutting)\s+my ?self\b"
    r"|\b(?:want|wanted|wanting|way|ways|how)\s+to\s+die\b|\bend(?:ing)?\s+(?:it all|my life|everything)\b"
    r"|\b(?:reasons?|motivation)\s+to\s+live\b|(?:want|wanted)\s+to\s+be\s+dead",
    re.IGNORECASE,
)
# Given names seen when the selected texts were read; scrub_personal_data has no rule for names.
_GIVEN_NAMES = re.compile(r"\b(?:Elliot|Kingsley)\b")


def redact_names(text: str) -> str:
    return _GIVEN_NAMES.sub("[name]", text)


EMOTION_ADJECTIVES = {
    "anxiety": "anxious",
    "depression": "depressed",
    "sadness": "sad",
    "anger": "angry",
    "shame": "ashamed",
    "fear": "afraid",
    "disgust": "disgusted",
    "nervousness": "nervous",
    "jealousy": "jealous",
    "guilt": "guilty",
    "pain": "hurt",
}


def content_words(text: str) -> int:
    """Words that are not personal-data placeholders."""
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, " ")
    return len(_WORD.findall(text))


def is_usable(text: str) -> bool:
    """Not empty, at least MIN_WORDS real words, and not mostly a removed link or handle."""
    total = len(text.split())
    placeholders = sum(text.count(p) for p in PLACEHOLDERS)
    return content_words(text) >= MIN_WORDS and placeholders <= 0.2 * max(total, 1)


def self_harm_terms(text: str) -> bool:
    return bool(_SELF_HARM.search(text))


def epitome_prompts(epitome_dir: Path, count: int, seed: int) -> list[dict[str, Any]]:
    train, heldout = split_pairs(read_epitome_pairs(epitome_dir), SPLIT_SEED, HELDOUT_FRACTION)
    trained_texts = {p.post.casefold() for p in train}
    candidates: dict[str, str] = {}
    for pair in sorted(heldout, key=lambda p: p.sp_id):
        key = pair.post.casefold()
        if key in trained_texts or key in candidates or not is_usable(pair.post):
            continue
        candidates[key] = pair.post
    texts = sorted(candidates.values())
    random.Random(seed).shuffle(texts)
    if len(texts) < count:
        raise DataFormatError(f"{epitome_dir}: only {len(texts)} usable held-out posts, {count} requested")
    return [
        {
            "id": f"epitome-{index:03d}",
            "source": "epitome",
            "licence": EPITOME_LICENCE,
            "non_commercial": True,
            "emotion_type": None,
            "problem_type": None,
            "rewritten": False,
            "self_harm_terms": self_harm_terms(text),
            "text": redact_names(text),
        }
        for index, text in enumerate(texts[:count], start=1)
    ]


def first_person_message(situation: str, emotion: str) -> tuple[str, bool]:
    """The situation as something a seeker would write; True when it had to be rewritten."""
    text = situation.strip()
    if text.isupper():
        text = re.sub(r"\bi\b", "I", text.lower())
    text = text[:1].upper() + text[1:]
    if _FIRST_PERSON.search(text):
        return text, False
    adjective = EMOTION_ADJECTIVES.get(emotion.lower(), "overwhelmed")
    phrase = text.rstrip(".!? ")
    return f"{phrase}. That's what I'm dealing with right now, and I feel so {adjective} about it.", True


def esconv_prompts(test_file: Path, count: int, seed: int) -> list[dict[str, Any]]:
    rows = read_jsonl(test_file, required_fields=("situation", "emotion_type", "problem_type"))
    by_emotion: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for row in rows:
        situation = scrub_personal_data(row["situation"])
        text, rewritten = first_person_message(situation, row["emotion_type"])
        if situation.casefold() in seen or not is_usable(text) or content_words(situation) < 4:
            continue
        seen.add(situation.casefold())
        by_emotion[row["emotion_type"].lower()].append({**row, "text": text, "rewritten": rewritten})
    rng = random.Random(seed)
    for emotion in sorted(by_emotion):
        rng.shuffle(by_emotion[emotion])
    # Round-robin over emotions so rare ones (shame, fear, disgust) are represented.
    chosen: list[dict[str, Any]] = []
    while len(chosen) < count and any(by_emotion.values()):
        for emotion in sorted(by_emotion):
            if by_emotion[emotion] and len(chosen) < count:
                chosen.append(by_emotion[emotion].pop())
    return [
        {
            "id": f"esconv-{index:03d}",
            "source": "esconv",
            "licence": ESCONV_LICENCE,
            "non_commercial": True,
            "emotion_type": row["emotion_type"].lower(),
            "problem_type": row["problem_type"].lower(),
            "rewritten": row["rewritten"],
            "self_harm_terms": self_harm_terms(row["text"]),
            "text": redact_names(row["text"]),
        }
        for index, row in enumerate(chosen, start=1)
    ]


NOTICE = (
    "NOTICE: NON-COMMERCIAL USE ONLY.\n"
    "The prompts in tasks/mh_empathy/data/prompts.jsonl with source '{source}' are derived from {name}, which may be\n"
    "used for non-commercial (academic research) purposes only. The licence text below is copied unchanged from\n"
    "{origin}.\n" + "=" * 100 + "\n\n"
)
LICENCE_COPIES = {
    "LICENSE-epitome-academic.txt": ("epitome/LICENSE-academic.txt", "epitome", "EPITOME (Sharma et al., 2020)"),
    "LICENSE-epitome-attribution.txt": ("epitome/LICENSE-attribution.txt", "epitome", "EPITOME (Sharma et al., 2020)"),
    "LICENSE-esconv-CC-BY-NC-4.0.txt": ("esconv/LICENSE", "esconv", "ESConv (Liu et al., 2021)"),
}


def write_licences(shared_dir: Path, out_dir: Path) -> None:
    for target, (relative, source, name) in LICENCE_COPIES.items():
        origin = f"the shared data folder, {relative} (see SOURCE.md for the upstream repository and commit)"
        text = NOTICE.format(source=source, name=name, origin=origin) + (shared_dir / relative).read_text("utf-8")
        (out_dir / target).write_text(text, encoding="utf-8")


def write_prompts(prompts: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for prompt in prompts:
            handle.write(json.dumps(prompt, ensure_ascii=False) + "\n")


def _upstream_lines(source_txt: Path, names: Sequence[str]) -> list[str]:
    lines = source_txt.read_text(encoding="utf-8").splitlines()
    return [f"  - `{line}`" for line in lines if any(line.startswith(f"file={name} ") for name in names)]


def render_source_md(
    shared_dir: Path, seed: int, epitome: Sequence[dict[str, Any]], esconv: Sequence[dict[str, Any]]
) -> str:
    epitome_files = sorted(EPITOME_FILES.values())
    emotions = Counter(p["emotion_type"] for p in esconv)
    lines = [
        "# mh_empathy prompts: sources and licences",
        "",
        "**NON-COMMERCIAL USE ONLY.** Every prompt here is derived from EPITOME or ESConv, whose licences allow "
        "non-commercial (academic research) use only. Do not use these prompts, or results that reproduce them, "
        "in a commercial product or service. Each row carries `licence` and `non_commercial: true`.",
        "",
        "Generated by `scripts/build_empathy_prompts.py` (selection seed "
        f"{seed}); do not edit by hand. Rebuild: `python scripts/build_empathy_prompts.py`.",
        "",
        "## Contents",
        "",
        f"- `prompts.jsonl`: {len(epitome) + len(esconv)} prompts: {len(epitome)} EPITOME seeker posts, "
        f"{len(esconv)} ESConv situations.",
        "- `LICENSE-epitome-academic.txt`, `LICENSE-epitome-attribution.txt`: the two licences the EPITOME "
        "repository ships (which one covers the data is not stated; treat it as the non-commercial academic one).",
        "- `LICENSE-esconv-CC-BY-NC-4.0.txt`: ESConv's licence (CC BY-NC 4.0; upstream also says academic research "
        "use only).",
        "",
        "Fields: `id`, `source` (epitome/esconv), `licence`, `non_commercial`, `emotion_type` and `problem_type` "
        "(ESConv's labels; null for EPITOME), `rewritten` (the ESConv situation was a phrase and was turned into a "
        "first-person message by a fixed template), `self_harm_terms` (a keyword heuristic, not a risk label: "
        "such prompts deserve a reply that is also safe, so score them with the crisis scorer too), `text`.",
        "",
        "## Sources",
        "",
        "- EPITOME (Sharma, Miner, Atkins, Althoff; EMNLP 2020), Reddit subset, via the project's shared data folder:",
        *_upstream_lines(shared_dir / "epitome" / "SOURCE.txt", epitome_files),
        "  - the shared copies hold a 2,618-row subset of each upstream file, so their sha256 differ; local copies "
        "used (sha256, first 16 hex digits): "
        + ", ".join(f"`{n}` {file_sha256(shared_dir / 'epitome' / n)[:16]}" for n in epitome_files),
        "- ESConv (Liu et al., ACL 2021), test split, via the project's shared data folder:",
        *_upstream_lines(shared_dir / "esconv" / "SOURCE.txt", ["test.jsonl"]),
        "",
        "## Selection",
        "",
        "- EPITOME: seeker posts of the empathy scorer's **held-out** split only (rule and seed from "
        f"`harness/scoring/_epitome.py`: seed {SPLIT_SEED}, fraction {HELDOUT_FRACTION}), "
        "so no prompt is a post the scorer was trained on (checked by text as well as by post id). Posts whose "
        f"text also occurs in the training split are dropped; deduplicated by text; posts with fewer than {MIN_WORDS} "
        "words, or mostly a removed link or handle, are skipped; then a seeded shuffle picks the prompts.",
        "- ESConv: `situation` of each test conversation, deduplicated, at least 4 words of its own and "
        f"{MIN_WORDS} in the final message; a situation with no first-person word gets the template "
        "\"<situation>. That's what I'm dealing with right now, and I feel so <emotion> about it.\" "
        "Chosen round-robin over emotion types after a seeded shuffle: "
        + ", ".join(f"{k} {v}" for k, v in sorted(emotions.items()))
        + f"; {sum(p['rewritten'] for p in esconv)} rewritten.",
        f"- `self_harm_terms` is true for {sum(p['self_harm_terms'] for p in [*epitome, *esconv])} prompts.",
        "",
        "## Personal data",
        "",
        "All texts pass through `harness.scrub.scrub_personal_data`: URLs, e-mail addresses, @handles, u/ and r/ "
        "names, Reddit ids and phone numbers become `[link]`, `[email]`, `[user]`, `[forum]`, `[id]`, `[phone]`. "
        "Prompt ids are new (`epitome-001`, `esconv-001`); no Reddit post id is shipped. Names of people inside "
        "a text have no rule; the selected texts were read and the given names found there became `[name]`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=7, help="seed of the prompt selection")
    parser.add_argument("--epitome-count", type=int, default=75)
    parser.add_argument("--esconv-count", type=int, default=60)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    epitome = epitome_prompts(args.shared_dir / "epitome", args.epitome_count, args.seed)
    esconv = esconv_prompts(args.shared_dir / "esconv" / "test.jsonl", args.esconv_count, args.seed)
    write_prompts([*epitome, *esconv], args.out_dir / "prompts.jsonl")
    write_licences(args.shared_dir, args.out_dir)
    source_md = render_source_md(args.shared_dir, args.seed, epitome, esconv)
    (args.out_dir / "SOURCE.md").write_text(source_md, encoding="utf-8")
    print(f"wrote {len(epitome)} EPITOME + {len(esconv)} ESConv prompts to {args.out_dir / 'prompts.jsonl'}")


if __name__ == "__main__":
    main()
