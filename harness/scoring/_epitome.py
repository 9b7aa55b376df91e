"""Reading the EPITOME empathy annotations and the rule that splits them by seeker post.

EPITOME (Sharma et al., EMNLP 2020; non-commercial academic licence) ships one CSV per empathy
mechanism with the same (seeker post, response) rows in the same order. ``read_epitome_pairs``
joins the three into one row per pair, scrubbed of personal data. ``is_heldout_post`` decides the
held-out split from a hash of the seeker post id, so the split needs no stored id list, does not
depend on row order, and a post is never on both sides.

Only training, validation and data-building scripts and tests read these files; the scorer
itself never does.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataFormatError
from harness.scrub import scrub_personal_data

MECHANISMS: tuple[str, ...] = ("emotional_reactions", "interpretations", "explorations")
MECHANISM_CODES: Mapping[str, str] = {
    "emotional_reactions": "ER",
    "interpretations": "IP",
    "explorations": "EX",
}
EPITOME_FILES: Mapping[str, str] = {
    "emotional_reactions": "emotional-reactions-reddit.csv",
    "interpretations": "interpretations-reddit.csv",
    "explorations": "explorations-reddit.csv",
}
LEVELS: tuple[int, ...] = (0, 1, 2)
_COLUMNS = ("sp_id", "rp_id", "seeker_post", "response_post", "level")


@dataclass(frozen=True)
class EpitomePair:
    """One seeker post and one response, with the annotated level (0/1/2) of each mechanism."""

    sp_id: str
    rp_id: str
    post: str
    reply: str
    levels: Mapping[str, int]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def epitome_file_hashes(data_dir: Path) -> dict[str, str]:
    """sha256 of each mechanism's CSV, keyed by file name."""
    return {name: file_sha256(data_dir / name) for name in EPITOME_FILES.values()}


def is_heldout_post(sp_id: str, seed: int, heldout_fraction: float) -> bool:
    """True when the seeker post ``sp_id`` belongs to the held-out split for this seed."""
    digest = hashlib.sha256(f"epitome-split:{seed}:{sp_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction


def _read_mechanism_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataFormatError(f"{path}: EPITOME file is missing (expected the folder ../shared/data/epitome)")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if row["level"] not in {"0", "1", "2"}:
            raise DataFormatError(f"{path}:{line}: field 'level' is {row['level']!r}, expected 0, 1 or 2")
    return rows


def read_epitome_pairs(data_dir: Path) -> list[EpitomePair]:
    """All annotated pairs, one per (sp_id, rp_id), texts scrubbed and whitespace collapsed.

    Some pairs appear twice in the files, a few with different levels; the first occurrence is
    kept so every pair counts once and the choice does not depend on anything but file order.
    """
    by_mechanism = {m: _read_mechanism_rows(data_dir / name) for m, name in EPITOME_FILES.items()}
    first = by_mechanism[MECHANISMS[0]]
    for mechanism, rows in by_mechanism.items():
        if len(rows) != len(first):
            raise DataFormatError(f"{data_dir / EPITOME_FILES[mechanism]}: {len(rows)} rows, expected {len(first)}")
        for index, (row, ref) in enumerate(zip(rows, first, strict=True)):
            if (row["sp_id"], row["rp_id"]) != (ref["sp_id"], ref["rp_id"]):
                raise DataFormatError(
                    f"{data_dir / EPITOME_FILES[mechanism]}:{index + 2}: pair ids differ from "
                    f"{EPITOME_FILES[MECHANISMS[0]]}; the three files must list the same pairs in the same order"
                )
    pairs: list[EpitomePair] = []
    seen: set[tuple[str, str]] = set()
    for index, ref in enumerate(first):
        key = (ref["sp_id"], ref["rp_id"])
        if key in seen:
            continue
        seen.add(key)
        levels = {m: int(by_mechanism[m][index]["level"]) for m in MECHANISMS}
        post = scrub_personal_data(ref["seeker_post"])
        reply = scrub_personal_data(ref["response_post"])
        pairs.append(EpitomePair(ref["sp_id"], ref["rp_id"], post, reply, levels))
    return pairs


def split_pairs(
    pairs: Sequence[EpitomePair], seed: int, heldout_fraction: float
) -> tuple[list[EpitomePair], list[EpitomePair]]:
    """(train, held-out), split by seeker post."""
    train = [p for p in pairs if not is_heldout_post(p.sp_id, seed, heldout_fraction)]
    heldout = [p for p in pairs if is_heldout_post(p.sp_id, seed, heldout_fraction)]
    return train, heldout


def heldout_ids_digest(heldout: Sequence[EpitomePair]) -> str:
    """sha256 of the sorted held-out seeker post ids: lets a test confirm the split without listing ids."""
    ids = sorted({p.sp_id for p in heldout})
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


# The one split of EPITOME used everywhere: the scorers train on the other posts, and the
# mh_empathy prompts come from these held-out posts only.
SPLIT_SEED = 2020
HELDOUT_FRACTION = 0.2
SPLIT_RULE = "sha256('epitome-split:{seed}:{sp_id}'), first 8 bytes as a big-endian integer / 2**64 < fraction"
