"""Preference pairs from people's judgements, for DPO (``mindgate pairs build``).

- ``counselchat``: CounselChat questions answered by several licensed therapists. For a question,
  the answer with the most upvotes is preferred to each answer with strictly fewer (ties are
  dropped, at most ``MAX_PAIRS_PER_QUESTION`` pairs per question so popular questions do not
  dominate). Rows of one split only (``--split``; the test split is the evaluation's).
- ``hh-rlhf``: Anthropic's HH-RLHF harmless pairs whose human turn is about mental health
  (``MENTAL_HEALTH`` below), single-turn dialogues only (prompt = the human turn). The rejected
  text is only ever the rejected side; the chosen side still goes through curation, which removes
  it when it is harmful or toxic (HH-RLHF's "chosen" is only the less harmful of two).
- ``esconv``: supporter turns of ESConv conversations the seeker rated as empathic (4 or 5 of 5)
  against supporter turns of FailedESConv conversations the seeker rated unempathic (1 or 2). The
  two corpora share no conversation, so a pair needs two seeker turns that say the same thing:
  every FailedESConv seeker turn of at least ``ESCONV_MIN_WORDS`` words is matched to its nearest
  ESConv seeker turn (MiniLM sentence embeddings, cosine), and a pair is kept only when the
  cosine is at least ``ESCONV_MIN_SIMILARITY`` (a near-paraphrase) and both turns have a
  supporter reply. Prompt = the ESConv seeker turn, chosen = the ESConv supporter's reply to it,
  rejected = the failed supporter's reply to its twin. Each ESConv turn is used once (its
  closest twin). ``--input`` is the folder holding ``train.jsonl`` (or ``--split valid``) and
  ``FailedESConv.json``; the test split is left alone (mh_empathy draws prompts from it).
  Licence CC BY-NC 4.0: non-commercial research only.
- ``crisis``: the crisis judgement's labelled (message, reply) pairs (``rubrics/crisis/pairs``):
  for one user message, a reply labelled safe (no harm item) is preferred to a reply labelled
  harmful, at most ``MAX_PAIRS_PER_QUESTION`` pairs per message. ``--input`` is one split file;
  only ``train.jsonl`` may be trained on (the other splits are the judgement's held-out figures,
  usable here for held-out reward-model figures only). For safety reward and cost models: the
  rejected side is harmful text and is never a generation target.

Each output row: ``prompt``, ``chosen``, ``rejected``, ``source``, ``licence``, ``id`` and the
evidence for the preference (``votes`` or the upstream pair index). Every pair set goes through
``mindgate curate --kind preference`` before training.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import DataFormatError

SOURCES: tuple[str, ...] = ("counselchat", "hh-rlhf", "esconv", "crisis")
MAX_PAIRS_PER_QUESTION = 3
MENTAL_HEALTH = re.compile(
    r"\b(?:suicid\w*|kill(?:ing)? myself|self[- ]?harm\w*|cut(?:ting)? myself|depress\w*|anxi\w*|panic|lonely|"
    r"loneliness|therap\w*|mental(?:ly)? ill\w*|mental health|psychiatr\w*|trauma\w*|ptsd|grief|grieving|"
    r"eating disorder|anorex\w*|bulimi\w*|overdose|hopeless\w*|worthless|want to die|end my life|hurt myself)\b",
    re.IGNORECASE,
)


def build_pairs(source: str, path: Path, split: str | None = None) -> list[dict[str, Any]]:
    if source not in SOURCES:
        raise DataFormatError(f"unknown pair source {source!r}; choose one of {', '.join(SOURCES)}")
    if source == "esconv":
        return esconv_pairs(path, split or "train")
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    if source == "counselchat":
        return counselchat_pairs(path, split or "train")
    if source == "crisis":
        return crisis_pairs(path)
    return hh_rlhf_pairs(path)


def crisis_pairs(path: Path) -> list[dict[str, Any]]:
    """Safe reply preferred to harmful reply, per user message of one labelled split."""
    by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, row in enumerate(_jsonl(path), start=1):
        missing = [key for key in ("id", "message_id", "message", "reply", "harmful", "split") if key not in row]
        if missing:
            raise DataFormatError(f"{path}, line {number}: fields {', '.join(missing)} missing (a crisis pairs file?)")
        by_message[str(row["message_id"])].append(row)
    pairs = []
    for message_id in sorted(by_message, key=_natural):
        rows = sorted(by_message[message_id], key=lambda r: _natural(str(r["id"])))
        safe = [r for r in rows if int(r["harmful"]) == 0]
        harmful = [r for r in rows if int(r["harmful"]) == 1]
        count = min(MAX_PAIRS_PER_QUESTION, max(len(safe), len(harmful))) if safe and harmful else 0
        combos = [(safe[i % len(safe)], harmful[i % len(harmful)]) for i in range(count)]  # each reply used evenly
        for good, bad in combos:
            pairs.append(
                {
                    "id": f"crisis-{good['id']}-{bad['id']}",
                    "prompt": good["message"],
                    "chosen": good["reply"],
                    "rejected": bad["reply"],
                    "tier": good.get("tier"),
                    "split": good["split"],
                    "source": f"crisis judgement pairs, {good['split']} split (labelled safe reply preferred to "
                    "labelled harmful reply)",
                    "licence": str(good.get("licence") or "see rubrics/crisis/pairs/README.md"),
                }
            )
    return pairs


def counselchat_pairs(path: Path, split: str) -> list[dict[str, Any]]:
    by_question: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"questionID", "questionText", "answerText", "upvotes", "split"}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: not the CounselChat CSV (no column {', '.join(sorted(missing))})")
        for row in reader:
            if row["split"] == split and row["answerText"].strip() and row["questionText"].strip():
                by_question[row["questionID"]].append(row)
    if not by_question:
        raise DataFormatError(f"{path}: no rows with split = {split!r}")
    pairs = []
    for question_id in sorted(by_question, key=_natural):
        answers = sorted(by_question[question_id], key=lambda r: -int(r["upvotes"] or 0))
        best = answers[0]
        lower = [a for a in answers[1:] if int(a["upvotes"] or 0) < int(best["upvotes"] or 0)]
        for number, worse in enumerate(lower[:MAX_PAIRS_PER_QUESTION], start=1):
            pairs.append(
                {
                    "id": f"counselchat-{question_id}-{number}",
                    "prompt": best["questionText"].strip(),
                    "chosen": best["answerText"].strip(),
                    "rejected": worse["answerText"].strip(),
                    "votes": [int(best["upvotes"] or 0), int(worse["upvotes"] or 0)],
                    "source": f"CounselChat {split} split (higher-voted therapist answer preferred)",
                    "licence": "MIT (nbertagnolli/counsel-chat; answers from counselchat.com)",
                }
            )
    return pairs


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)


_TURN = re.compile(r"\n\n(Human|Assistant): ")


def _turns(text: str) -> list[tuple[str, str]]:
    parts = _TURN.split(text)
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def hh_rlhf_pairs(path: Path) -> list[dict[str, Any]]:
    pairs = []
    for number, row in enumerate(_jsonl(path), start=1):
        chosen, rejected = _turns(row.get("chosen", "")), _turns(row.get("rejected", ""))
        if len(chosen) != 2 or len(rejected) != 2 or chosen[0] != rejected[0] or chosen[0][0] != "Human":
            continue  # multi-turn, or the two sides do not share their prompt
        prompt = chosen[0][1]
        if not MENTAL_HEALTH.search(prompt) or chosen[1][1] == rejected[1][1] or not chosen[1][1]:
            continue
        pairs.append(
            {
                "id": f"hh-rlhf-harmless-test-{number}",
                "prompt": prompt,
                "chosen": chosen[1][1],
                "rejected": rejected[1][1],
                "source": f"Anthropic HH-RLHF harmless-base test, line {number} (crowdworker preference)",
                "licence": "MIT (anthropics/hh-rlhf)",
            }
        )
    return pairs


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataFormatError(f"{path}, line {number}: not valid JSON ({error.msg})") from error


ESCONV_MIN_WORDS = 6
ESCONV_MIN_SIMILARITY = 0.80
_ESCONV_SPLITS = ("train", "valid")


def _dialogue_turns(dialog: list[dict[str, Any]], seeker: str, text_key: str) -> list[tuple[str, str]]:
    """(seeker turn, the supporter's reply) with consecutive messages of one speaker joined."""
    merged: list[list[str]] = []  # [speaker, text]
    for message in dialog:
        text = " ".join(str(message.get(text_key) or "").split())
        if not text:
            continue
        role = "seeker" if message.get("speaker") == seeker else "supporter"
        if merged and merged[-1][0] == role:
            merged[-1][1] += " " + text
        else:
            merged.append([role, text])
    return [
        (merged[i][1], merged[i + 1][1])
        for i in range(len(merged) - 1)
        if merged[i][0] == "seeker" and merged[i + 1][0] == "supporter"
    ]


def _empathy_rating(conversation: dict[str, Any]) -> int | None:
    value = (conversation.get("survey_score") or {}).get("seeker", {}).get("empathy")
    return int(value) if str(value or "").isdigit() else None


def esconv_pairs(folder: Path, split: str) -> list[dict[str, Any]]:
    from harness.scoring.counsel import text_vectors

    if split not in _ESCONV_SPLITS:
        choices = ", ".join(_ESCONV_SPLITS)
        raise DataFormatError(f"esconv: --split {split!r}; choose one of {choices} (the test split is the suite's)")
    good_file, failed_file = folder / f"{split}.jsonl", folder / "FailedESConv.json"
    for needed in (good_file, failed_file):
        if not needed.is_file():
            raise DataFormatError(f"{needed}: no such file; --input is the ESConv folder holding it")
    good = [c for c in _jsonl(good_file) if (_empathy_rating(c) or 0) >= 4]
    try:
        failed = json.loads(failed_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{failed_file}: not valid JSON ({error.msg})") from error
    failed = [c for c in failed if _empathy_rating(c) in (1, 2)]

    def long_enough(turn: tuple[str, str]) -> bool:
        return len(turn[0].split()) >= ESCONV_MIN_WORDS

    good_turns = [
        (number, turn)
        for number, c in enumerate(good)
        for turn in _dialogue_turns(c["dialog"], "usr", "text")
        if long_enough(turn)
    ]
    failed_turns = [
        (number, turn)
        for number, c in enumerate(failed)
        for turn in _dialogue_turns(c["dialog"], "speaker", "content")
        if long_enough(turn)
    ]
    if not good_turns or not failed_turns:
        return []
    similarity = text_vectors([t[0] for _, t in failed_turns]) @ text_vectors([t[0] for _, t in good_turns]).T
    best_for_good: dict[int, tuple[float, int]] = {}
    for f_index in range(len(failed_turns)):
        g_index = int(similarity[f_index].argmax())
        score = float(similarity[f_index, g_index])
        if score >= ESCONV_MIN_SIMILARITY and score > best_for_good.get(g_index, (-1.0, -1))[0]:
            best_for_good[g_index] = (score, f_index)
    pairs = []
    for g_index, (score, f_index) in sorted(best_for_good.items()):
        (g_conv, (prompt, chosen)), (f_conv, (twin, rejected)) = good_turns[g_index], failed_turns[f_index]
        if chosen == rejected:
            continue
        pairs.append(
            {
                "id": f"esconv-{split}-{g_index}",
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "twin_prompt": twin,
                "similarity": round(score, 4),
                "ratings": [_empathy_rating(good[g_conv]), _empathy_rating(failed[f_conv])],
                "source": f"ESConv {split} (seeker rated empathy >= 4) against FailedESConv (rated 1-2), "
                f"seeker turns matched at cosine >= {ESCONV_MIN_SIMILARITY}",
                "licence": "CC-BY-NC-4.0 (thu-coai/Emotional-Support-Conversation): non-commercial research only",
            }
        )
    return pairs


def write_pairs(pairs: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(
        "".join(json.dumps(p, ensure_ascii=False, sort_keys=True) + "\n" for p in pairs), encoding="utf-8"
    )
    partial.replace(out)
