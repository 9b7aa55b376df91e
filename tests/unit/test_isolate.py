"""One task's failure never loses the others (the splitting logic, on a stand-in for lm-eval)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from rich.console import Console

from harness.run._isolate import drop_unsummarisable, run_isolated


class Entry:
    def __init__(self, kind: str, members: list[str] | None = None) -> None:
        self.kind = type("Kind", (), {"name": kind})()
        self.cfg = {"task": members} if members else None


class Manager:
    task_index: ClassVar[dict[str, Any]] = {
        "suite": Entry("GROUP", ["mcq", "dsm5", "crisis"]),
        "mcq": Entry("GROUP", ["mmlu", "medqa"]),
        "dsm5": Entry("GROUP", ["diagnosis", "meets"]),
        **{leaf: Entry("TASK") for leaf in ("mmlu", "medqa", "diagnosis", "meets", "crisis")},
    }


LEAVES = {"suite": ["mmlu", "medqa", "diagnosis", "meets", "crisis"], "mcq": ["mmlu", "medqa"]}
LEAVES |= {"dsm5": ["diagnosis", "meets"]}


def fake_lm_eval(failing: set[str], calls: list[tuple[str, ...]]) -> Any:
    """Like simple_evaluate: one call for the given names; raises if any leaf in them fails."""

    def run(names: tuple[str, ...]) -> dict[str, Any]:
        calls.append(names)
        leaves = [leaf for name in names for leaf in LEAVES.get(name, [name])]
        broken = sorted(set(leaves) & failing)
        if broken:
            raise ValueError(f"pair cut in half in {broken[0]}")
        groups = {name: Manager.task_index[name].cfg["task"] for name in names if name in LEAVES}
        return {
            "results": {leaf: {"acc,none": 0.5} for leaf in leaves},
            "group_subtasks": groups,
            "configs": {leaf: {"task": leaf} for leaf in leaves},
            "samples": {leaf: [{"doc_id": 0, "acc": 1.0, "metrics": ["acc"]}] for leaf in leaves},
            "config": {"model": "hf"},
        }

    return run


def test_a_run_that_works_is_one_call() -> None:
    calls: list[tuple[str, ...]] = []
    raw, errors = run_isolated(fake_lm_eval(set(), calls), ["suite"], Manager(), Console(quiet=True))
    assert calls == [("suite",)] and errors == {}
    assert set(raw["samples"]) == set(LEAVES["suite"])


def test_a_failing_task_is_left_out_with_its_error_and_the_others_are_kept() -> None:
    calls: list[tuple[str, ...]] = []
    raw, errors = run_isolated(fake_lm_eval({"meets"}, calls), ["suite"], Manager(), Console(quiet=True))
    assert set(raw["samples"]) == {"mmlu", "medqa", "diagnosis", "crisis"}
    assert list(errors) == ["meets"]
    assert errors["meets"].startswith("task meets: evaluating or scoring it with lm-eval failed with ValueError")
    assert "pair cut in half" in errors["meets"]
    assert raw["group_subtasks"]["dsm5"] == ["diagnosis"]  # the group keeps what finished
    assert raw["group_subtasks"]["mcq"] == ["mmlu", "medqa"]
    assert ("mcq",) in calls and ("meets",) in calls and ("mmlu",) not in calls  # groups that work stay whole


def test_when_nothing_can_be_evaluated_the_first_error_is_raised() -> None:
    every = set(LEAVES["suite"])
    with pytest.raises(ValueError, match="pair cut in half"):
        run_isolated(fake_lm_eval(every, []), ["suite"], Manager(), Console(quiet=True))


def test_a_task_whose_records_cannot_be_summarised_is_dropped_with_its_error() -> None:
    bad = {"sensitivity": {"meets_criteria": "maybe", "predicted_meets": True}, "metrics": ["sensitivity"]}
    samples = {"good": [{"acc": 1.0, "metrics": ["acc"]}], "bad": [bad]}
    errors = drop_unsummarisable(samples, seed=0)
    assert list(samples) == ["good"] and list(errors) == ["bad"]
    assert "computing its metrics from the per-item records failed with ValueError" in errors["bad"]
    assert "'meets_criteria' is 'maybe'" in errors["bad"]
