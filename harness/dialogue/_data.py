"""Scripted dialogues: validation, one document per user turn, and the chat built for each turn.

A dialogue row holds alternating turns, user first and user last; every user turn carries the
risk tier of the conversation at that point. The model answers each user turn k after seeing
user turns 1..k-1 with the scripted assistant turns between them (never its own earlier
replies), so every model is judged on the same conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import DataFormatError

TIERS = ("none", "low", "moderate", "high", "imminent")
HIGH_RISK_TIERS = ("high", "imminent")
BENIGN_TIERS = ("none", "low")
ARCS = ("escalating", "de-escalating", "benign")

Message = dict[str, str]


def check_dialogue(row: Mapping[str, Any], where: str) -> None:
    """Raise DataFormatError naming the row and field when a dialogue is malformed."""
    for field in ("id", "arc", "turns"):
        if field not in row:
            raise DataFormatError(f"{where}: missing field {field!r}")
    if not isinstance(row["id"], str) or not row["id"].strip() or "-t" in row["id"]:
        raise DataFormatError(f"{where}: field 'id' is {row['id']!r}; expected a non-empty name without '-t'")
    if row["arc"] not in ARCS:
        raise DataFormatError(f"{where}: field 'arc' is {row['arc']!r}; expected one of {', '.join(ARCS)}")
    turns = row["turns"]
    if not isinstance(turns, list) or len(turns) % 2 == 0:
        raise DataFormatError(f"{where}: field 'turns' must be a list of alternating turns, user first and last")
    for index, turn in enumerate(turns):
        _check_turn(turn, "user" if index % 2 == 0 else "assistant", f"{where}: turns[{index}]")
    _check_arc(row["arc"], [turn["tier"] for turn in turns[::2]], where)


def _check_turn(turn: Any, role: str, where: str) -> None:
    if not isinstance(turn, Mapping) or turn.get("role") != role:
        found = turn.get("role") if isinstance(turn, Mapping) else turn
        raise DataFormatError(f"{where}: field 'role' is {found!r}; expected {role!r} (turns alternate)")
    if not isinstance(turn.get("text"), str) or not turn["text"].strip():
        raise DataFormatError(f"{where}: field 'text' is empty")
    if role == "user" and turn.get("tier") not in TIERS:
        raise DataFormatError(f"{where}: field 'tier' is {turn.get('tier')!r}; expected one of {', '.join(TIERS)}")
    if role == "assistant" and "tier" in turn:
        raise DataFormatError(f"{where}: an assistant turn has no 'tier' (tiers belong to user turns)")


def _check_arc(arc: str, tiers: Sequence[str], where: str) -> None:
    """The arc a dialogue declares must match its tiers, since the metrics select by tier."""
    ranks = [TIERS.index(tier) for tier in tiers]
    high = any(tier in HIGH_RISK_TIERS for tier in tiers)
    if arc == "benign" and not all(tier in BENIGN_TIERS for tier in tiers):
        raise DataFormatError(f"{where}: a benign dialogue has tiers {list(tiers)}; only none and low are benign")
    if arc == "escalating" and (not high or ranks != sorted(ranks)):
        raise DataFormatError(f"{where}: an escalating dialogue must never lower its tier and must reach high")
    if arc == "de-escalating" and (ranks[0] < TIERS.index("moderate") or ranks != sorted(ranks, reverse=True)):
        raise DataFormatError(f"{where}: a de-escalating dialogue starts at moderate or above and never rises")


def turn_documents(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One document per user turn: id ``<dialogue>-t<k>``, the history before it, the turn itself."""
    turns = row["turns"]
    user_turns = len(turns) // 2 + 1
    documents = []
    for k in range(1, user_turns + 1):
        current = turns[2 * (k - 1)]
        history = [{"role": turn["role"], "content": turn["text"]} for turn in turns[: 2 * (k - 1)]]
        documents.append(
            {
                "id": f"{row['id']}-t{k}",
                "dialogue": row["id"],
                "arc": row["arc"],
                "topic": row.get("topic", ""),
                "turn": k,
                "turns": user_turns,
                "tier": current["tier"],
                "text": current["text"],
                "history": history,
            }
        )
    return documents


def chat_messages(doc: Mapping[str, Any]) -> list[Message]:
    """The chat the model answers: the history (user and scripted assistant turns), then turn k."""
    history = [{"role": str(m["role"]), "content": str(m["content"])} for m in doc["history"]]
    return [*history, {"role": "user", "content": str(doc["text"])}]


def user_side(doc: Mapping[str, Any]) -> str:
    """The person's turns so far, oldest first and the current one last, one per line."""
    said = [str(m["content"]) for m in doc["history"] if m["role"] == "user"]
    return "\n".join([*said, str(doc["text"])])


def plain_transcript(messages: Sequence[Mapping[str, str]]) -> str:
    """A chat as text for models run without a chat template, ending where the reply starts."""
    speaker = {"system": "System", "user": "User", "assistant": "Assistant"}
    lines = [f"{speaker[m['role']]}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])
