"""``mindgate annotate export``: choose items from finished runs and hand them to raters.

runs -> items (scrubbed; reference tier and scorer outputs kept apart) -> sample per task ->
assign to raters (a seeded share twice, for agreement) -> package (``_package.write_package``).
Everything is seeded and ordered by opaque ids, so the same runs and options give the same
package byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.annotate._items import TIERS, Item, read_item
from harness.annotate.fields import AnnotationError, LabelSchema, load_schema
from harness.store import StoredRun

SAMPLING: tuple[str, ...] = ("random", "stratified", "disagreement")
DEFAULT_TASKS: tuple[str, ...] = ("mh_crisis", "mh_empathy")
STRATUM_ORDER: tuple[str, ...] = (*TIERS, "no tier", "low", "middle", "high", "no score")


@dataclass(frozen=True)
class ExportOptions:
    tasks: tuple[str, ...] = field(default=(), metadata={"help": "tasks to sample (default: mh_crisis, mh_empathy)"})
    sample: str = field(default="stratified", metadata={"help": "random | stratified | disagreement"})
    n: int = field(default=40, metadata={"help": "items per task"})
    seed: int = field(default=0, metadata={"help": "sampling and assignment seed"})
    raters: int = field(default=2, metadata={"help": "number of raters"})
    double_share: float = field(
        default=0.2, metadata={"help": "share of items labelled by two raters (none with a single rater)"}
    )

    def check(self) -> None:
        if self.sample not in SAMPLING:
            raise AnnotationError(f"--sample {self.sample}: choose one of {', '.join(SAMPLING)}")
        if self.n < 1:
            raise AnnotationError(f"--n {self.n}: at least one item per task")
        if self.raters < 1:
            raise AnnotationError(f"--raters {self.raters}: at least one rater")
        if not 0.0 <= self.double_share <= 1.0:
            raise AnnotationError(f"--double-share {self.double_share}: a share between 0 and 1")

    def as_record(self) -> dict[str, object]:
        record = asdict(self)
        record["tasks"] = list(self.tasks)
        return record


@dataclass(frozen=True)
class Assigned:
    item: Item
    raters: tuple[str, ...]


def rater_ids(count: int) -> tuple[str, ...]:
    return tuple(f"r{k}" for k in range(1, count + 1))


def collect_items(runs: Sequence[StoredRun], options: ExportOptions, schema: LabelSchema) -> dict[str, list[Item]]:
    """Every labellable item of the chosen tasks, per task, in id order."""
    available = {task for run in runs for task in run.samples}
    tasks = options.tasks or tuple(t for t in DEFAULT_TASKS if t in available)
    if not tasks:
        raise AnnotationError(f"none of {', '.join(DEFAULT_TASKS)} is in these runs; name tasks with --task")
    missing = [t for t in tasks if t not in available]
    if missing:
        raise AnnotationError(f"task(s) {', '.join(missing)} are in none of the runs (they have: {sorted(available)})")
    by_task: dict[str, list[Item]] = {}
    for task in tasks:
        rubric = schema.rubric_for_task(task)
        items: dict[str, Item] = {}
        for run in runs:
            if task not in run.samples:
                continue
            for key, row in run.items(task).items():
                item = read_item(run.run_id, task, key, rubric.name, row, f"run {run.run_id} task {task} item {key}")
                items[item.annotation_id] = item
        by_task[task] = [items[i] for i in sorted(items)]
    return by_task


def sample_items(items: Sequence[Item], how: str, n: int, seed: int, task: str) -> list[Item]:
    """``n`` items: at random; spread evenly over strata (reference tier or score band); or the
    items the scorers disagree on (or are least sure of) first, the rest at random."""
    rng = random.Random(f"{seed}/{task}/{how}")
    shuffled = list(items)
    rng.shuffle(shuffled)
    if how == "random":
        return shuffled[:n]
    if how == "disagreement":
        return sorted(shuffled, key=lambda item: -item.disagreement)[:n]
    strata: dict[str, list[Item]] = {}
    for item in shuffled:
        strata.setdefault(item.stratum, []).append(item)
    order = sorted(strata, key=lambda s: (STRATUM_ORDER.index(s) if s in STRATUM_ORDER else len(STRATUM_ORDER), s))
    chosen: list[Item] = []
    while len(chosen) < n and any(strata.values()):
        for stratum in order:  # one from each stratum in turn: small strata are taken whole
            if strata[stratum] and len(chosen) < n:
                chosen.append(strata[stratum].pop(0))
    return chosen


def assign_raters(
    items: Sequence[Item],
    raters: Sequence[str],
    double_share: float,
    seed: int,
    load: dict[str, int] | None = None,
) -> list[Assigned]:
    """A seeded share of items goes to two raters, the rest to one; each next slot goes to the
    least-loaded rater (ties broken at random), so loads differ by at most one. ``load`` carries
    the loads over from another task's items."""
    rng = random.Random(f"{seed}/assign/{len(items)}/{items[0].task if items else ''}")
    order = sorted(items, key=lambda item: item.annotation_id)
    rng.shuffle(order)
    n_double = round(double_share * len(order)) if len(raters) >= 2 else 0
    load = load if load is not None else {}
    for rater in raters:
        load.setdefault(rater, 0)
    out: list[Assigned] = []
    for position, item in enumerate(order):
        wanted = 2 if position < n_double else 1
        ranked = sorted(raters, key=lambda r: (load[r], rng.random()))
        chosen = tuple(sorted(ranked[:wanted]))
        for rater in chosen:
            load[rater] += 1
        out.append(Assigned(item, chosen))
    return sorted(out, key=lambda a: a.item.annotation_id)


def export_package(
    runs: Sequence[StoredRun], options: ExportOptions, out: Path, schema: LabelSchema | None = None
) -> Path:
    """Write the package to ``out`` and return the manifest's path."""
    from harness.annotate._package import write_package

    options.check()
    schema = schema or load_schema()
    raters = rater_ids(options.raters)
    load: dict[str, int] = {}
    assigned: list[Assigned] = []
    for task, items in collect_items(runs, options, schema).items():
        if not items:
            raise AnnotationError(f"task {task}: no items to label in these runs")
        chosen = [item.scrubbed() for item in sample_items(items, options.sample, options.n, options.seed, task)]
        # Per task, so that every task gets its share of doubly labelled items.
        assigned.extend(assign_raters(chosen, raters, options.double_share, options.seed, load))
    return write_package(out, assigned, options, schema, raters)
