"""The shared-prefix planner: every request must see, at each scored position, exactly its own
prefix at the positions a plain causal pass would give it; shared tokens must be computed once."""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.backends._prefix_plan import (
    PackedRow,
    ScoredSequence,
    ancestor_mask,
    batch_rows,
    pack_rows,
    scored_sequence,
)


def _visible(row: PackedRow, node: int) -> list[tuple[int, int]]:
    """(position, token) of every node ``node`` may attend to, by position."""
    mask = ancestor_mask(row.parents)
    return sorted((row.positions[j], row.tokens[j]) for j in np.flatnonzero(mask[node]))


def _check_row(row: PackedRow, sequences: list[ScoredSequence]) -> None:
    """What each scored node sees is exactly the request's input up to that node, in order."""
    assert set(range(len(row) - row.n_needed, len(row))) >= {n for nodes in row.scored.values() for n in nodes}
    for request, nodes in row.scored.items():
        sequence = sequences[request]
        assert len(nodes) == len(sequence.targets)
        first = len(sequence.tokens) - len(sequence.targets)
        for offset, node in enumerate(nodes):
            position = first + offset
            assert row.positions[node] == position
            assert _visible(row, node) == list(enumerate(sequence.tokens[: position + 1]))


def test_scored_sequence_matches_lm_eval_input() -> None:
    # lm-eval: (context + continuation)[-(max_length + 1):][:-1]
    assert scored_sequence([1, 2, 3], [4, 5], max_length=10) == ScoredSequence((1, 2, 3, 4), (4, 5))
    assert scored_sequence([1, 2, 3, 4, 5], [6, 7], max_length=4) == ScoredSequence((3, 4, 5, 6), (6, 7))


@pytest.mark.parametrize(("context", "continuation", "limit"), [([], [1], 8), ([1], [], 8), ([1], [2, 3, 4], 2)])
def test_scored_sequence_refuses_what_lm_eval_refuses(context: list[int], continuation: list[int], limit: int) -> None:
    with pytest.raises(ValueError):
        scored_sequence(context, continuation, max_length=limit)


def test_options_of_one_context_share_its_nodes() -> None:
    context = list(range(100, 110))
    options = [[1, 2, 3], [1, 2, 9], [4], [5, 6]]
    sequences = [scored_sequence(context, option, 2048) for option in options]
    (row,) = pack_rows(sequences, row_tokens=512)
    # the context once, then each option's input (all but its last token) as a branch: [1, 2] is
    # shared by the first two options, [4] adds nothing, [5, 6] adds [5]
    assert len(row) == 10 + 3
    _check_row(row, sequences)


def test_one_token_options_read_the_same_node() -> None:
    context = [7, 8, 9]
    sequences = [scored_sequence(context, [letter], 2048) for letter in (11, 12, 13)]
    (row,) = pack_rows(sequences, row_tokens=512)
    assert len(row) == 3
    assert {tuple(nodes) for nodes in row.scored.values()} == {(2,)}
    _check_row(row, sequences)


def test_a_scored_node_may_be_the_ancestor_of_another_request() -> None:
    short = scored_sequence([1, 2], [3], 2048)  # scored at node "2"
    long = scored_sequence([1, 2, 3, 4], [5, 6], 2048)  # passes through "2" unscored
    sequences = [short, long]
    (row,) = pack_rows(sequences, row_tokens=512)
    _check_row(row, sequences)


def test_identical_requests_get_identical_nodes() -> None:
    sequences = [scored_sequence([1, 2, 3], [4, 5], 2048)] * 3
    (row,) = pack_rows(sequences, row_tokens=512)
    assert len(row) == 4
    assert len({tuple(nodes) for nodes in row.scored.values()}) == 1


def test_truncated_requests_keep_lm_eval_positions() -> None:
    sequences = [scored_sequence(list(range(50)), [90, 91, 92], max_length=16)]
    (row,) = pack_rows(sequences, row_tokens=512)
    assert row.positions == sorted(row.positions) and max(row.positions) == 15
    _check_row(row, sequences)


def test_random_requests_with_shared_prefixes_all_see_their_own_prefix() -> None:
    rng = random.Random(7)
    stems = [[rng.randrange(50) for _ in range(rng.randrange(1, 30))] for _ in range(6)]
    sequences = []
    for _ in range(300):
        context = rng.choice(stems) + [rng.randrange(50) for _ in range(rng.randrange(0, 12))]
        continuation = [rng.randrange(50) for _ in range(rng.randrange(1, 6))]
        sequences.append(scored_sequence(context or [1], continuation, max_length=rng.choice([8, 32, 2048])))
    rows = pack_rows(sequences, row_tokens=64)
    assert sorted(request for row in rows for request in row.scored) == list(range(len(sequences)))
    for row in rows:
        assert len(row) <= 64 or len(row.scored) == 1
        _check_row(row, sequences)
    # shared beginnings are computed once: far fewer nodes than input tokens
    assert sum(len(row) for row in rows) < 0.6 * sum(len(s.tokens) for s in sequences)


def test_a_request_longer_than_a_row_gets_its_own_row() -> None:
    sequences = [scored_sequence(list(range(40)), [1], 2048), scored_sequence([5, 6], [7], 2048)]
    rows = pack_rows(sequences, row_tokens=16)
    assert sorted(len(row) for row in rows) == [2, 40]


def test_options_of_a_context_longer_than_a_row_share_that_row() -> None:
    context = list(range(100, 140))
    sequences = [scored_sequence(context, [letter], 2048) for letter in (1, 2, 3)]
    sequences.append(scored_sequence(context, [4, 5], 2048))  # a longer option adds a node: a row of its own
    sequences.append(scored_sequence([5, 6], [7], 2048))
    rows = pack_rows(sequences, row_tokens=16)
    assert sorted(len(row) for row in rows) == [2, 40, 41]
    (long_row,) = [row for row in rows if len(row) == 40]
    assert sorted(long_row.scored) == [0, 1, 2]
    for row in rows:
        _check_row(row, sequences)


def test_batches_respect_every_bound_and_keep_each_row_once() -> None:
    rows = pack_rows([scored_sequence([i, i + 1, i + 2], [i + 3, i + 4], 2048) for i in range(0, 300, 5)], 8)
    batches = batch_rows(rows, max_rows=4, max_cells=24, max_scored=8)
    assert sorted(id(row) for batch in batches for row in batch) == sorted(id(row) for row in rows)
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) == 1 or len(batch) * max(len(row) for row in batch) <= 24
        assert len(batch) == 1 or len(batch) * max(row.n_needed for row in batch) <= 8
        assert [len(row) for row in batch] == sorted((len(row) for row in batch), reverse=True)


def test_ancestor_mask_of_a_tree_in_any_order() -> None:
    # 0 -> 1 -> 2 and 0 -> 3, listed with a child before its parent
    parents = [-1, 3, -1, 2]  # nodes: a=0 (root), b=1 (child of 3), c=2 (root), d=3 (child of 2)
    mask = ancestor_mask(parents)
    assert mask.tolist() == [
        [True, False, False, False],
        [False, True, True, True],
        [False, False, True, False],
        [False, False, True, True],
    ]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        pack_rows([], row_tokens=0)
    with pytest.raises(ValueError):
        batch_rows([], max_rows=0, max_cells=1, max_scored=1)
