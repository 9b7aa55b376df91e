"""Stage and per-task timing, the progress plan and its ETA (pure logic, no model)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console

from harness.run._progress import (
    GENERATED_TOKEN_UNITS,
    PlainDisplay,
    SuiteProgress,
    plan_requests,
    remaining_seconds,
    request_units,
)
from harness.run._timing import RunTiming, record_store_time, stage_totals, timing_summary


@dataclass
class _Instance:
    request_type: str
    args: tuple[Any, ...]
    task_name: str
    repeats: int = 1


@dataclass
class _Task:
    instances: list[_Instance]


class _Shown:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, float | None, str]] = []
        self.closed = False

    def show(self, done: int, total: int, eta_s: float | None, kind: str) -> None:
        self.calls.append((done, total, eta_s, kind))

    def close(self) -> None:
        self.closed = True


def _suite() -> dict[str, _Task]:
    mcq = [_Instance("loglikelihood", (f"q{i}", f" option {j}"), "mcq") for i in range(3) for j in range(4)]
    gen = [_Instance("generate_until", (f"prompt {i}", {"max_gen_toks": 100}), "gen", repeats=2) for i in range(2)]
    return {"mcq": _Task(mcq), "gen": _Task(gen)}


def _key(kind: str, args: tuple[Any, ...]) -> str:
    from harness.backends._observed import request_key

    return request_key(kind, args)


def test_stage_times_add_up_and_unknown_stages_are_refused() -> None:
    timing = RunTiming()
    timing.add("generation", 2.0)
    timing.add("generation", 1.5)
    timing.add("scoring", -1.0)  # a clock that went backwards adds nothing
    assert timing.stages == {"generation": 3.5, "scoring": 0.0}
    with pytest.raises(ValueError, match="unknown stage"):
        timing.add("warp", 1.0)


def test_settling_a_call_books_setup_and_aggregation_around_measured_work() -> None:
    timing = RunTiming()
    before = timing.model_seconds()
    timing.add("loglikelihood", 6.0)
    timing.add("scoring", 1.0)
    timing.settle_call(call_s=10.0, model_s_before=before, setup_s=2.0)
    assert timing.stages["setup"] == pytest.approx(2.0)
    assert timing.stages["aggregation"] == pytest.approx(1.0)


def test_timed_scoring_counts_per_task_and_returns_the_scores() -> None:
    timing = RunTiming()

    def score(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
        time.sleep(0.01)
        return {"acc": 1.0}

    timed = timing.timed_scoring("mcq", score)
    assert timed({}, ["a"]) == {"acc": 1.0}
    assert timing.tasks["mcq"].scoring_s >= 0.01 and timing.stages["scoring"] >= 0.01
    assert timing.first_scoring is not None


def test_record_keeps_stages_in_order_and_store_time_is_added_before_writing() -> None:
    timing = RunTiming()
    timing.add("store", 0.0)
    timing.add("loglikelihood", 61.25)
    timing.add("model_load", 3.0)
    record = {"timing": timing.as_record()}
    assert list(record["timing"]["stages_s"]) == ["model_load", "loglikelihood", "store"]
    record_store_time(record, 2.0)
    assert stage_totals(record) == {"model_load": 3.0, "loglikelihood": 61.25, "store": 2.0}
    assert timing_summary(record) == "time: model load 3s, loglikelihood 1m01s, store 2s"
    assert timing_summary({}) == "time: not recorded"


def test_generation_requests_weigh_by_the_tokens_they_may_generate() -> None:
    assert request_units("loglikelihood", ("a", "b")) == 1.0
    assert request_units("generate_until", ("a", {"max_gen_toks": 192})) == pytest.approx(192 * GENERATED_TOKEN_UNITS)


def test_remaining_time_uses_each_kinds_own_speed_once_started() -> None:
    total = {"loglikelihood": 100.0, "generate_until": 400.0}
    assert remaining_seconds({}, total, {}) is None
    # only log-likelihood has run: 50 units in 10 s -> 5 units/s for everything left
    assert remaining_seconds({"loglikelihood": 50.0}, total, {"loglikelihood": 10.0}) == pytest.approx(90.0)
    # generation has its own speed (2 units/s) once it has started
    done = {"loglikelihood": 100.0, "generate_until": 40.0}
    assert remaining_seconds(done, total, {"loglikelihood": 20.0, "generate_until": 20.0}) == pytest.approx(180.0)


def test_plan_counts_repeats_and_maps_answers_to_tasks() -> None:
    plan = plan_requests(_suite())
    assert plan.total == {"loglikelihood": 12, "generate_until": 4}
    assert plan.per_task == {"mcq": 12, "gen": 4}
    assert plan.units["generate_until"] == pytest.approx(4 * 100 * GENERATED_TOKEN_UNITS)
    assert plan.task_of[_key("generate_until", ("prompt 1", {"max_gen_toks": 100}))] == "gen"


def test_progress_counts_cached_requests_as_done_and_splits_batches_between_tasks() -> None:
    tasks = _suite()
    timing, shown = RunTiming(), _Shown()
    progress = SuiteProgress(tasks, timing, shown)
    asked = [i for i in tasks["mcq"].instances if i.args[0] != "q0"]  # q0's four options were cached
    progress.calling("loglikelihood", asked)
    assert shown.calls[-1][:2] == (4, 16)
    for batch in (asked[:4], asked[4:]):
        time.sleep(0.02)
        for instance in batch:
            progress.finished("loglikelihood", _key("loglikelihood", instance.args))
    progress.returned("loglikelihood", 0.05)
    assert shown.calls[-1][0] == 12
    assert timing.tasks["mcq"].requests == 12 and timing.tasks["mcq"].cached == 4
    assert timing.tasks["mcq"].loglikelihood_s == pytest.approx(0.04, abs=0.03)
    assert timing.stages["loglikelihood"] == pytest.approx(0.05)
    progress.finish()  # generation never reached the model: all of it came from the cache
    assert shown.calls[-1][:2] == (16, 16) and shown.closed
    assert timing.tasks["gen"].cached == 4


def test_plain_progress_lines_are_throttled_but_never_miss_a_change_of_kind() -> None:
    out = io.StringIO()
    display = PlainDisplay(Console(file=out, width=200), interval_s=3600)
    display.show(0, 10, None, "loglikelihood")
    display.show(3, 10, 12.0, "loglikelihood")  # within the interval: not printed
    display.show(6, 10, 8.0, "generate_until")
    display.show(10, 10, 0.0, "generate_until")  # the end is always printed
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("progress: 0/10 requests (0%), log-likelihood")
    assert "6/10 requests (60%), generation" in lines[1] and "about 0m08s left" in lines[1]
    assert lines[2].startswith("progress: 10/10 requests (100%)")
