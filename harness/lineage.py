"""Where an adapter came from: the training record the bundled trainers leave in its directory.

An adapter made by ``mindgate train`` carries ``training.json`` (config, base-model hash, parent
adapter, data and curation hashes, ...). Its lineage is the trainer kinds from the first ancestor
to it, e.g. ``["sft"]`` or ``["sft", "dpo"]``; an adapter without the record is ``["external"]``.
Evaluation copies this into the run record, so the leaderboard can show base -> sft -> dpo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAINING_RECORD = "training.json"


def adapter_training(adapter_dir: Path) -> dict[str, Any] | None:
    """The run record's summary of an adapter's training record, or None without one."""
    path = adapter_dir / TRAINING_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"trainer": "unknown", "lineage": ["unknown"], "parent": None, "error": f"{TRAINING_RECORD} unreadable"}
    parent = record.get("parent_adapter") or None
    kind = str(record.get("trainer") or "unknown")
    return {
        "trainer": kind,
        "name": (record.get("config") or {}).get("name"),
        "lineage": [*parent.get("lineage", []), kind] if parent else [kind],
        "parent": None if not parent else {"name": parent.get("name"), "content_hash": parent.get("content_hash")},
        "data_sha256": (record.get("data") or {}).get("sha256"),
    }


def lineage_of(adapter_dir: Path) -> list[str]:
    """Trainer kinds from the first ancestor to this adapter; ``["external"]`` without a record."""
    training = adapter_training(adapter_dir)
    return ["external"] if training is None else list(training["lineage"])


def lineage_label(lineage: list[str] | None) -> str:
    """``base → sft → dpo`` for display; ``base`` alone for no adapter."""
    return " → ".join(["base", *(lineage or [])])
