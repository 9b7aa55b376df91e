"""Where a run's time goes (stored in run.json), and how far along it is (shown while it runs).

Stages: ``setup`` (tasks loaded, requests built), ``model_load``, ``loglikelihood``,
``generation``, ``scoring`` (each task's per-item scoring, e.g. the crisis and empathy scorers),
``aggregation`` (lm-eval's and mindgate's metrics and intervals) and ``store`` (writing the run
directory). Per task: requests, how many came from the request cache, and the model time of its
requests. lm-eval computes requests of all tasks together in batches; a batch's time is split
equally between the requests it finished, so per-task model times are an attribution.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = ("setup", "model_load", "loglikelihood", "generation", "scoring", "aggregation", "store")
KIND_STAGE = {
    "loglikelihood": "loglikelihood",
    "loglikelihood_rolling": "loglikelihood",
    "generate_until": "generation",
}
ATTRIBUTION_NOTE = (
    "stages_s: wall seconds per stage; tasks: model seconds of each task's requests, a batch's time "
    "split equally between the requests it finished"
)


@dataclass
class TaskTime:
    requests: int = 0
    cached: int = 0
    loglikelihood_s: float = 0.0
    generation_s: float = 0.0
    scoring_s: float = 0.0


@dataclass
class RunTiming:
    """Seconds per stage and per task, added up over every lm-eval call of one run."""

    stages: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, TaskTime] = field(default_factory=dict)
    first_scoring: float | None = None  # monotonic time of the first per-item scoring call

    def add(self, stage: str, seconds: float) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
        self.stages[stage] = self.stages.get(stage, 0.0) + max(0.0, seconds)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)

    def task(self, name: str) -> TaskTime:
        return self.tasks.setdefault(name, TaskTime())

    def timed_scoring(self, task: str, score: Callable[..., Any]) -> Callable[..., Any]:
        """``score`` (a task's per-item scoring function), with its time added to the task and to
        the ``scoring`` stage."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            if self.first_scoring is None:
                self.first_scoring = started
            try:
                return score(*args, **kwargs)
            finally:
                elapsed = time.monotonic() - started
                self.task(task).scoring_s += elapsed
                self.add("scoring", elapsed)

        return timed

    def model_seconds(self) -> float:
        """Seconds measured inside lm-eval calls so far (requests and per-item scoring)."""
        return sum(self.stages.get(stage, 0.0) for stage in ("loglikelihood", "generation", "scoring"))

    def settle_call(self, call_s: float, model_s_before: float, setup_s: float | None) -> None:
        """Book the rest of one lm-eval call: ``setup_s`` (loading tasks, building requests, until
        the first model or scoring call) to setup, what remains after requests and scoring to
        aggregation."""
        measured = self.model_seconds() - model_s_before
        setup = min(call_s - measured, setup_s) if setup_s is not None else 0.0
        self.add("setup", setup)
        self.add("aggregation", call_s - measured - setup)

    def as_record(self) -> dict[str, Any]:
        return {
            "stages_s": {stage: round(self.stages[stage], 3) for stage in STAGES if stage in self.stages},
            "tasks": {
                name: {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(t).items()}
                for name, t in sorted(self.tasks.items())
            },
            "note": ATTRIBUTION_NOTE,
        }


_CURRENT: ContextVar[RunTiming | None] = ContextVar("mindgate_run_timing", default=None)


@contextlib.contextmanager
def timing_scope() -> Iterator[RunTiming]:
    """Collect the timing of everything run inside (one run, possibly several lm-eval calls)."""
    timing = RunTiming()
    token = _CURRENT.set(timing)
    try:
        yield timing
    finally:
        _CURRENT.reset(token)


def current_timing() -> RunTiming:
    """The timing of the run in progress; outside a ``timing_scope`` a throw-away one."""
    return _CURRENT.get() or RunTiming()


def record_store_time(record: dict[str, Any], seconds: float) -> None:
    """Add the time spent writing the run directory to a record's timing, just before the record
    itself is written (the one part of the store it cannot include)."""
    timing = record.get("timing")
    if isinstance(timing, dict):
        stages = timing.setdefault("stages_s", {})
        stages["store"] = round(stages.get("store", 0.0) + seconds, 3)


def stage_totals(record: Mapping[str, Any]) -> dict[str, float]:
    """Stage seconds of a stored run record (empty for records written before timing existed)."""
    timing = record.get("timing")
    if not isinstance(timing, Mapping):
        return {}
    stages = timing.get("stages_s")
    return {str(k): float(v) for k, v in stages.items()} if isinstance(stages, Mapping) else {}


def timing_summary(record: Mapping[str, Any]) -> str:
    """One line for the terminal: where the run's time went."""
    stages = stage_totals(record)
    if not stages:
        return "time: not recorded"
    parts = [f"{stage.replace('_', ' ')} {_seconds(stages[stage])}" for stage in STAGES if stages.get(stage, 0) >= 0.5]
    return "time: " + ", ".join(parts)


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
