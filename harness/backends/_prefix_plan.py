"""Planning shared-prefix log-likelihood scoring: which tokens are computed once, and where.

A multiple-choice item asks for the log-likelihood of every option after one context, and lm-eval
runs the whole context again for every option (it shares work only when every option is a single
token). Many items also share long beginnings with each other: the system prompt, or a DSM-5
vignette asked about in two formulations. Here every request is a path in a token trie: a token
that several requests have at the same place, after the same tokens, is one node and is computed
once. A row is a set of requests packed into one trie; the model sees the row's nodes in one
sequence with an attention mask that lets each node see exactly its ancestors (its own prefix)
and with its depth as position id, so each request's scored positions see the same inputs at the
same positions as in a plain causal forward pass.

Pure logic (lists and numpy); the model-facing part is ``harness.backends._shared_prefix``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ScoredSequence:
    """One log-likelihood request as the model sees it: ``tokens`` is the input, and the last
    ``len(targets)`` input positions predict ``targets`` (the continuation), one each."""

    tokens: tuple[int, ...]
    targets: tuple[int, ...]


def scored_sequence(context: Sequence[int], continuation: Sequence[int], max_length: int) -> ScoredSequence:
    """The input lm-eval's hf model builds for (context, continuation): the joined tokens, cut from
    the left to ``max_length + 1``, without the last token (nothing is predicted after it)."""
    if not context or not continuation:
        raise ValueError("a log-likelihood request needs a non-empty context and continuation")
    if len(continuation) > max_length:
        raise ValueError(f"continuation of {len(continuation)} tokens is longer than the model's {max_length}")
    joined = (*context, *continuation)
    return ScoredSequence(tokens=joined[-(max_length + 1) :][:-1], targets=tuple(continuation))


@dataclass
class PackedRow:
    """Several requests' tries flattened into one model input row.

    Nodes are in an order where every parent comes before its children, except that the nodes
    whose logits are needed are moved to the end (so a batch can keep only its last positions'
    logits). ``scored[request]`` lists, for each target token of that request, the node whose
    output predicts it.
    """

    tokens: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    scored: dict[int, list[int]] = field(default_factory=dict)
    n_needed: int = 0

    def __len__(self) -> int:
        return len(self.tokens)


class _TrieBuilder:
    """Grows one row's trie; nodes are numbered in creation order (parents first)."""

    def __init__(self) -> None:
        self.children: dict[tuple[int, int], int] = {}
        self.tokens: list[int] = []
        self.parents: list[int] = []
        self.depths: list[int] = []
        self.paths: dict[int, list[int]] = {}
        self.needed: set[int] = set()

    def new_nodes(self, tokens: Sequence[int]) -> int:
        parent = -1
        for depth, token in enumerate(tokens):
            node = self.children.get((parent, token))
            if node is None:
                return len(tokens) - depth
            parent = node
        return 0

    def add(self, request: int, sequence: ScoredSequence) -> None:
        parent, path = -1, []
        for depth, token in enumerate(sequence.tokens):
            node = self.children.get((parent, token))
            if node is None:
                node = len(self.tokens)
                self.children[(parent, token)] = node
                self.tokens.append(token)
                self.parents.append(parent)
                self.depths.append(depth)
            path.append(node)
            parent = node
        scored = path[len(path) - len(sequence.targets) :]
        self.paths[request] = scored
        self.needed.update(scored)

    def __len__(self) -> int:
        return len(self.tokens)

    def row(self) -> PackedRow:
        order = [n for n in range(len(self.tokens)) if n not in self.needed] + sorted(self.needed)
        where = {node: index for index, node in enumerate(order)}
        return PackedRow(
            tokens=[self.tokens[n] for n in order],
            positions=[self.depths[n] for n in order],
            parents=[where[self.parents[n]] if self.parents[n] >= 0 else -1 for n in order],
            scored={request: [where[n] for n in nodes] for request, nodes in self.paths.items()},
            n_needed=len(self.needed),
        )


def pack_rows(sequences: Sequence[ScoredSequence], row_tokens: int) -> list[PackedRow]:
    """Pack requests into rows of at most ``row_tokens`` trie nodes (a request longer than that
    gets a row of its own). Requests are taken in token order, so those that share beginnings
    are neighbours and land in the same row. A request whose input is already in the row (another
    option of the same question, one token long) joins it whatever its size: a row that one
    long request made wider than ``row_tokens`` is not computed again for each of its options."""
    if row_tokens < 1:
        raise ValueError("row_tokens must be positive")
    order = sorted(range(len(sequences)), key=lambda index: sequences[index].tokens)
    rows: list[PackedRow] = []
    builder = _TrieBuilder()
    for index in order:
        sequence = sequences[index]
        new = builder.new_nodes(sequence.tokens)
        if len(builder) and new and len(builder) + new > row_tokens:
            rows.append(builder.row())
            builder = _TrieBuilder()
        builder.add(index, sequence)
    if len(builder):
        rows.append(builder.row())
    return rows


def batch_rows(rows: Sequence[PackedRow], max_rows: int, max_cells: int, max_scored: int) -> list[list[PackedRow]]:
    """Longest rows first, as many per batch as fit ``max_rows``, ``max_cells`` (rows x padded
    length: bounds the attention mask and the activations) and ``max_scored`` (rows x the most
    scored nodes of a row: bounds the logits kept). Similar lengths end up together, so little is
    padded. A row that alone exceeds a bound still gets a batch of its own."""
    if min(max_rows, max_cells, max_scored) < 1:
        raise ValueError("max_rows, max_cells and max_scored must be positive")
    batches: list[list[PackedRow]] = []
    current: list[PackedRow] = []
    for row in sorted(rows, key=len, reverse=True):
        if current:
            count = len(current) + 1
            width = len(current[0])
            scored = max(row.n_needed, *(member.n_needed for member in current))
            if count > max_rows or count * width > max_cells or count * scored > max_scored:
                batches.append(current)
                current = []
        current.append(row)
    if current:
        batches.append(current)
    return batches


def ancestor_mask(parents: Sequence[int]) -> np.ndarray:
    """``mask[i, j]`` is True when node j is node i or one of its ancestors: what node i may
    attend to. Any node order works (scored nodes are moved behind their descendants)."""
    size = len(parents)
    mask = np.zeros((size, size), dtype=bool)
    filled = np.zeros(size, dtype=bool)

    def fill(node: int) -> None:
        stack = []
        while node >= 0 and not filled[node]:
            stack.append(node)
            node = parents[node]
        for current in reversed(stack):
            parent = parents[current]
            if parent >= 0:
                mask[current] = mask[parent]
            mask[current, current] = True
            filled[current] = True

    for node in range(size):
        fill(node)
    return mask
