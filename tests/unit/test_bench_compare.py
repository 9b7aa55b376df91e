"""The benchmark's answer check must catch every way two runs can disagree on an item."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from tests.conftest import PROJECT_DIR


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_speed", PROJECT_DIR / "scripts" / "bench_speed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(doc_id: int, *answers: tuple[float, bool]) -> dict[str, Any]:
    return {"doc_id": doc_id, "resps": [[[value, greedy]] for value, greedy in answers]}


def test_equal_answers_within_the_tolerance_pass() -> None:
    ours = {"t": [_row(0, (-1.0, False), (-2.0, True)), _row(1, (-3.0, False), (-0.5, False))]}
    theirs = {"t": [_row(1, (-3.00005, False), (-0.5, False)), _row(0, (-1.0, False), (-2.0, True))]}
    report = _bench().compare_answers(ours, theirs)
    assert report["t"]["items"] == 2 and report["t"]["differing"] == []
    assert 4e-5 < report["t"]["largest_gap"] < 6e-5


def test_every_kind_of_disagreement_is_caught() -> None:
    ours = {
        "t": [
            _row(0, (-1.0, False), (-1.00004, False)),  # a near tie that flips: another chosen option
            _row(1, (-1.0, True), (-2.0, False)),  # another is_greedy
            _row(2, (-1.0, False), (-2.0, False)),  # a gap above 1e-4
            _row(3, (-1.0, False)),  # only in ours
        ]
    }
    theirs = {
        "t": [
            _row(0, (-1.00004, False), (-1.0, False)),
            _row(1, (-1.0, False), (-2.0, False)),
            _row(2, (-1.0002, False), (-2.0, False)),
        ],
        "u": [_row(0, (-1.0, False))],  # a task only in theirs
    }
    report = _bench().compare_answers(ours, theirs)
    assert report["t"]["differing"] == [0, 1, 2, 3]
    assert report["u"]["differing"] == [0]
