"""Exact and near-duplicate rows.

Exact: two rows whose texts are equal after lower-casing, removing punctuation and collapsing
whitespace. Near: MinHash over word 5-gram shingles (``datasketch``), rows whose estimated
Jaccard similarity is at least the threshold (0.8 by default) in an LSH index. The first row of a
group is kept, later ones are removed and name the row they duplicate. Deterministic: the MinHash
seed is fixed, and rows are visited in file order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

NUM_PERM = 128
SHINGLE_WORDS = 5
MINHASH_SEED = 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped: the unit of dedup and decontamination."""
    return _WORD.findall(text.lower())


def shingles(tokens: Sequence[str], n: int = SHINGLE_WORDS) -> set[bytes]:
    if len(tokens) < n:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class Duplicate:
    index: int  # the removed row (0-based position in the list given)
    of: int  # the kept row it duplicates
    kind: str  # exact | near
    similarity: float  # 1.0 for exact; estimated Jaccard for near


def find_duplicates(texts: Sequence[str], threshold: float = 0.8) -> list[Duplicate]:
    """Rows (by position) that repeat an earlier row exactly or nearly."""
    from datasketch import MinHash, MinHashLSH

    duplicates: list[Duplicate] = []
    first_by_key: dict[str, int] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes: dict[int, MinHash] = {}
    for index, text in enumerate(texts):
        tokens = words(text)
        key = hashlib.sha256(" ".join(tokens).encode()).hexdigest()
        if key in first_by_key:
            duplicates.append(Duplicate(index, first_by_key[key], "exact", 1.0))
            continue
        first_by_key[key] = index
        if not tokens:
            continue
        minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED)
        minhash.update_batch(sorted(shingles(tokens)))
        candidates = sorted(int(k) for k in lsh.query(minhash))
        matches = [(minhash.jaccard(hashes[c]), c) for c in candidates]
        matches = [(similarity, c) for similarity, c in matches if similarity >= threshold]
        if matches:
            similarity, of = max(matches, key=lambda m: (m[0], -m[1]))
            duplicates.append(Duplicate(index, of, "near", round(similarity, 3)))
            continue
        lsh.insert(str(index), minhash)
        hashes[index] = minhash
    return duplicates
