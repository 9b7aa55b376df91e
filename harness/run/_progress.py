"""One progress bar for a whole evaluation: requests done / total across every task, with an ETA.

On a terminal it is a rich progress bar; elsewhere (CI logs, files) a plain line every
``PLAIN_INTERVAL_S`` seconds. Requests answered from the request cache count as done at once.

The ETA weighs requests by their cost: a log-likelihood request is one unit, a generation request
``GENERATED_TOKEN_UNITS`` units per token it may generate. Each kind of request is extrapolated
from its own measured speed once it has started; before that, from the other kind's speed and
those weights (measured with `make bench` on a 2-core CPU with the bundled model).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.run._timing import KIND_STAGE, RunTiming

GENERATED_TOKEN_UNITS = 0.25  # one generated token (batched) / one shared-prefix log-likelihood request
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task does not say
PLAIN_INTERVAL_S = 30.0
_BATCH_GAP_S = 0.005  # answers closer together than this came from one batch


def request_units(kind: str, arguments: Sequence[Any]) -> float:
    if kind != "generate_until":
        return 1.0
    settings = arguments[1] if len(arguments) > 1 and isinstance(arguments[1], Mapping) else {}
    return GENERATED_TOKEN_UNITS * float(settings.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)


def remaining_seconds(
    done: Mapping[str, float], total: Mapping[str, float], seconds: Mapping[str, float]
) -> float | None:
    """Seconds left: each kind's remaining units at its own speed, or at the speed of all work so
    far for a kind that has not started. None until some work has been timed."""
    spent = sum(seconds.values())
    done_all = sum(done.values())
    if spent <= 0 or done_all <= 0:
        return None
    overall = done_all / spent
    left = 0.0
    for kind, units in total.items():
        remaining = max(0.0, units - done.get(kind, 0.0))
        own = done.get(kind, 0.0) / seconds[kind] if seconds.get(kind, 0.0) > 0 and done.get(kind) else None
        left += remaining / (own or overall)
    return left


@dataclass
class _Plan:
    total: Counter[str] = field(default_factory=Counter)
    units: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    task_of: dict[str, str] = field(default_factory=dict)
    unit_of: dict[str, float] = field(default_factory=dict)
    per_task: Counter[str] = field(default_factory=Counter)


def plan_requests(tasks: Mapping[str, Any]) -> _Plan:
    """Every request lm-eval has built for ``tasks`` (name -> Task), counted with repeats."""
    from harness.backends._observed import request_key

    plan = _Plan()
    for name, task in tasks.items():
        for instance in getattr(task, "instances", None) or []:
            kind, repeats = instance.request_type, instance.repeats or 1
            key = request_key(kind, instance.args)
            units = request_units(kind, instance.args)
            plan.task_of.setdefault(key, name)
            plan.unit_of[key] = units
            plan.total[kind] += repeats
            plan.units[kind] += units * repeats
            plan.per_task[name] += repeats
    return plan


class ProgressDisplay(Protocol):
    def show(self, done: int, total: int, eta_s: float | None, kind: str) -> None: ...

    def close(self) -> None: ...


class SuiteProgress:
    """Listens to the model (``harness.backends.ObservedLM``); keeps the display and the run's
    per-task timing up to date."""

    def __init__(self, tasks: Mapping[str, Any], timing: RunTiming, display: ProgressDisplay) -> None:
        self.tasks, self.timing, self.display = tasks, timing, display
        self.plan: _Plan | None = None
        self.done: Counter[str] = Counter()
        self.done_units: defaultdict[str, float] = defaultdict(float)
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.active: tuple[str, float] | None = None
        self.batch: list[str] = []
        self.batch_started = self.last_answer = 0.0
        self.first_call: float | None = None
        self.asked: set[str] = set()

    def first_call_after(self, started: float) -> float | None:
        """Seconds from ``started`` to the first model or scoring call (None if neither came)."""
        moments = [t for t in (self.first_call, self.timing.first_scoring) if t is not None and t >= started]
        return min(moments) - started if moments else None

    def finish(self) -> None:
        """Requests of a kind the model never saw were all answered from the request cache."""
        plan = self._planned()
        for kind in list(plan.total):
            if kind not in self.asked:
                self.calling(kind, [])
                self.returned(kind, 0.0)
        self.display.close()

    def _planned(self) -> _Plan:
        if self.plan is None:  # built at the first model call: lm-eval has built every request by then
            self.plan = plan_requests(self.tasks)
            for name, count in self.plan.per_task.items():
                self.timing.task(name).requests += count
        return self.plan

    def calling(self, kind: str, requests: Sequence[Any]) -> None:
        plan = self._planned()
        asked = Counter(instance.task_name for instance in requests)  # lm-eval passes repeats as copies
        for name, task in self.tasks.items():
            planned = _with_repeats(task, kind)
            if planned:
                self.timing.task(name).cached += max(0, planned - asked.get(name, 0))
        cached = max(0, plan.total[kind] - len(requests))
        self.done[kind] += cached
        self.done_units[kind] += plan.units[kind] * cached / plan.total[kind] if plan.total[kind] else 0.0
        now = time.monotonic()
        self.asked.add(kind)
        if self.first_call is None and requests:
            self.first_call = now
        self.active, self.batch_started, self.last_answer, self.batch = (kind, now), now, now, []
        self._show(kind)

    def finished(self, kind: str, key: str) -> None:
        plan = self._planned()
        now = time.monotonic()
        if self.batch and now - self.last_answer > _BATCH_GAP_S:
            self._settle_batch(kind, self.last_answer)
            self.batch_started = self.last_answer
        self.batch.append(plan.task_of.get(key, "?"))
        self.last_answer = now
        self.done[kind] += 1
        self.done_units[kind] += plan.unit_of.get(key, 1.0)
        self._show(kind)

    def returned(self, kind: str, seconds: float) -> None:
        self._settle_batch(kind, time.monotonic())
        self.timing.add(KIND_STAGE.get(kind, "loglikelihood"), seconds)
        self.seconds[kind] += seconds
        self.active = None
        self._show(kind)

    def _settle_batch(self, kind: str, until: float) -> None:
        """Split the time since the previous batch between the tasks of the requests it answered."""
        if not self.batch:
            return
        share = (until - self.batch_started) / len(self.batch)
        field_name = "generation_s" if KIND_STAGE.get(kind) == "generation" else "loglikelihood_s"
        for name in self.batch:
            if name in self.tasks:
                entry = self.timing.task(name)
                setattr(entry, field_name, getattr(entry, field_name) + share)
        self.batch = []

    def _show(self, kind: str) -> None:
        plan = self._planned()
        seconds = dict(self.seconds)
        if self.active is not None:
            active_kind, started = self.active
            seconds[active_kind] = seconds.get(active_kind, 0.0) + time.monotonic() - started
        eta = remaining_seconds(self.done_units, plan.units, seconds)
        self.display.show(sum(self.done.values()), sum(plan.total.values()), eta, kind)


def _with_repeats(task: Any, kind: str) -> int:
    instances = getattr(task, "instances", None) or []
    return sum(instance.repeats or 1 for instance in instances if instance.request_type == kind)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


_KIND_LABEL = {
    "loglikelihood": "log-likelihood",
    "loglikelihood_rolling": "log-likelihood",
    "generate_until": "generation",
}


class RichDisplay:
    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            transient=False,
        )
        self.bar = self.progress.add_task("evaluating", total=1, counts="", eta="")
        self.progress.start()

    def show(self, done: int, total: int, eta_s: float | None, kind: str) -> None:
        self.progress.update(
            self.bar,
            description=f"evaluating ({_KIND_LABEL.get(kind, kind)})",
            completed=done,
            total=max(total, 1),
            counts=f"{done:,}/{total:,} requests",
            eta="" if eta_s is None else f"about {_clock(eta_s)} left",
        )

    def close(self) -> None:
        self.progress.stop()


class PlainDisplay:
    """For logs: a line when the kind of request changes, then at most one per interval."""

    def __init__(self, console: Console, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.console, self.interval_s = console, interval_s
        self.started = time.monotonic()
        self.last_line = -interval_s
        self.last_kind = ""
        self.last_done = -1

    def show(self, done: int, total: int, eta_s: float | None, kind: str) -> None:
        now = time.monotonic()
        if kind == self.last_kind and now - self.last_line < self.interval_s and done < total:
            return
        if done == self.last_done and kind == self.last_kind:
            return
        self.last_line, self.last_kind, self.last_done = now, kind, done
        share = 100.0 * done / total if total else 100.0
        left = "" if eta_s is None else f", about {_clock(eta_s)} left"
        self.console.print(
            f"progress: {done:,}/{total:,} requests ({share:.0f}%), {_KIND_LABEL.get(kind, kind)}; "
            f"{_clock(now - self.started)} elapsed{left}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def close(self) -> None:
        return None


def progress_display(console: Console) -> ProgressDisplay:
    return RichDisplay(console) if console.is_terminal else PlainDisplay(console)
