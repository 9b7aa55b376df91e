"""Holding back a streamed reply until it has been checked.

The upstream's server-sent events are kept whole and in order; an event is released only once
every character of the reply up to its end has been checked together with at least
``window_chars`` later characters (or, at the tiers where the whole reply is held, once the whole
reply has been checked). The check always reads the whole reply so far, so a phrase split across
two chunks is judged as one text. Released events are the upstream's own bytes, unchanged.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    raw: bytes  # the event as the upstream sent it, blank line included
    data: str  # the joined data lines ("[DONE]" for the end marker)
    text: str  # the reply text this event adds ("" for role, usage and end events)
    parsed: dict[str, Any] | None  # the JSON payload, None for [DONE] or unreadable data


def event_text(payload: dict[str, Any]) -> str:
    """The reply text of one chunk: chat ``delta.content`` or completions ``text``, first choice."""
    choices = payload.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return content if isinstance(content, str) else ""
    text = choice.get("text")
    return text if isinstance(text, str) else ""


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Server-sent events from the upstream's lines (an event ends at a blank line)."""
    pending: list[str] = []
    async for line in lines:
        if line.strip():
            pending.append(line)
            continue
        if pending:
            yield _event(pending)
            pending = []
    if pending:
        yield _event(pending)


def _event(lines: list[str]) -> Event:
    raw = ("\n".join(lines) + "\n\n").encode()
    data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
    if data.strip() == "[DONE]":
        return Event(raw, "[DONE]", "", None)
    try:
        parsed = json.loads(data)
    except ValueError:
        return Event(raw, data, "", None)
    if not isinstance(parsed, dict):
        return Event(raw, data, "", None)
    return Event(raw, data, event_text(parsed), parsed)


class ReleaseBuffer:
    """The events received and not yet released, and how far the reply has been checked."""

    def __init__(self, hold_whole_reply: bool, window_chars: int, check_every_chars: int) -> None:
        self.hold_whole_reply = hold_whole_reply
        self.window_chars = window_chars
        self.check_every_chars = check_every_chars
        self.reply = ""
        self.checked_chars = 0
        self.released_chars = 0
        self._held: deque[Event] = deque()

    def add(self, event: Event) -> None:
        self._held.append(event)
        self.reply += event.text

    def needs_check(self) -> bool:
        return not self.hold_whole_reply and len(self.reply) - self.checked_chars >= self.check_every_chars

    def checked(self) -> list[bytes]:
        """The reply so far passed the check: the events now safe to release."""
        self.checked_chars = len(self.reply)
        return self._release(self.checked_chars - self.window_chars)

    def release_all(self) -> list[bytes]:
        """The whole reply passed the final check."""
        self.checked_chars = len(self.reply)
        return self._release(len(self.reply))

    def _release(self, limit: int) -> list[bytes]:
        out: list[bytes] = []
        while self._held and self.released_chars + len(self._held[0].text) <= limit:
            event = self._held.popleft()
            self.released_chars += len(event.text)
            out.append(event.raw)
        return out

    @property
    def withheld_chars(self) -> int:
        return len(self.reply) - self.released_chars
