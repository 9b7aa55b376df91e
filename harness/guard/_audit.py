"""The guard's audit log: one JSON line per request, written as soon as the request ends.

Message and reply text are stored only when the rules say so (``audit.store_text``); otherwise
their sha256, so a decision can be matched to a text someone holds without the log holding it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, path: Path, store_text: bool) -> None:
        self.path = path
        self.store_text = store_text
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def texts(self, **texts: str | None) -> dict[str, Any]:
        """``name`` -> text, or ``name_sha256`` -> its hash, as the rules say."""
        out: dict[str, Any] = {}
        for name, text in texts.items():
            if text is None:
                continue
            if self.store_text:
                out[name] = text
            else:
                out[f"{name}_sha256"] = text_sha256(text)
        return out

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
