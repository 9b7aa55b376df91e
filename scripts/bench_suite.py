"""Time the whole mh_suite on the bundled model with `mindgate eval`: `make bench-suite`.

The suite's wall time on this 2-core CPU is the figure a user waits for (goal: at most 15
minutes). The run's own stage timing (run.json: model load, log-likelihood, generation, scoring,
aggregation, store) says where the time goes. With --before, the same suite is also run the way
mindgate ran it before the speed work (lm-eval's own hf scoring and generation, in batches of
16: ``--no-shared-prefix --generation-batch-size 16``), alternating with the fast run, and every item's
answers of the two runs are compared: multiple choice within 1e-4 with the same choice, greedy
replies byte for byte (sampled replies, mh_toxicity, are compared but not required to match:
another batch draws other random numbers).

Takes long (the whole suite, twice with --before): run on an otherwise idle machine. Writes
reports/bench/hf-suite.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from harness.run._timing import STAGES  # noqa: E402
from scripts.bench_speed import compare_answers  # noqa: E402

SUITE = "mh_suite"
BEFORE_FLAGS = ("--no-shared-prefix", "--generation-batch-size", "16")
GOAL_S = 15 * 60
SAMPLES_POINTER = ".hf-suite-samples.json"  # where the last runs' per-item samples are (not committed)


def run_suite(work: Path, label: str, extra: tuple[str, ...]) -> dict[str, Any]:
    runs = work / f"runs-{label}"
    env = {
        **os.environ,
        "MINDGATE_RUNS_DIR": str(runs),
        "MINDGATE_DB": str(work / "leaderboard.db"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "harness", "eval", "--tasks", SUITE, "--no-use-cache", *extra]
    print(f"{label}: {' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
    process_s = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"mindgate eval ({label}) failed:\n{result.stderr[-3000:]}")
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    record = json.loads((run_dir / "run.json").read_text())
    return {
        "flags": list(extra),
        "process_s": process_s,
        "wall_time_s": record.get("wall_time_s"),
        "timing": record.get("timing"),
        "samples_dir": str(run_dir / "samples"),
    }


def _samples(samples_dir: str) -> dict[str, list[dict[str, Any]]]:
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(Path(samples_dir).glob("*.jsonl"))
    }


def compare_runs(fast: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    ours, theirs = _samples(fast["samples_dir"]), _samples(before["samples_dir"])
    choice_tasks = {t for t, rows in ours.items() if rows and isinstance(rows[0]["resps"][0][0], list)}
    report: dict[str, Any] = {
        "multiple_choice": compare_answers(
            {t: ours[t] for t in choice_tasks}, {t: theirs.get(t, []) for t in choice_tasks}
        )
    }
    generated: dict[str, Any] = {}
    for task in sorted(set(ours) - choice_tasks):
        mine = {row["doc_id"]: row["resps"] for row in ours[task]}
        other = {row["doc_id"]: row["resps"] for row in theirs.get(task, [])}
        sampled = any(_sampled(argument) for row in ours[task] for argument in row["arguments"])
        differing = sorted(doc for doc in set(mine) | set(other) if mine.get(doc) != other.get(doc))
        generated[task] = {"items": len(mine), "differing": differing, "sampled": sampled}
    report["generation"] = generated
    report["same_answers"] = all(not t["differing"] for t in report["multiple_choice"].values()) and all(
        not t["differing"] for t in generated.values() if not t["sampled"]
    )
    return report


def _sampled(argument: Any) -> bool:
    settings = argument[1] if isinstance(argument, list | tuple) and len(argument) > 1 else {}
    return isinstance(settings, dict) and bool(settings.get("do_sample"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", action="store_true", help="also run the suite the old way and compare")
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "bench")
    args = parser.parse_args()
    from harness.models import ensure_default_model

    ensure_default_model()
    work = Path(tempfile.mkdtemp(prefix="mindgate-bench-suite-"))
    load_start = os.getloadavg()
    fast = run_suite(work, "fast", ())
    before = run_suite(work, "before", BEFORE_FLAGS) if args.before else None
    results: dict[str, Any] = {
        "suite": SUITE,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(os.getloadavg()),
        "goal_s": GOAL_S,
        "fast": fast,
        "before": before,
        "ratio_fast_over_before": fast["process_s"] / before["process_s"] if before else None,
        "answers": compare_runs(fast, before) if before else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    # the samples stay in a temporary folder: its path is machine-specific, so it goes to an ignored file
    samples = {label: run.pop("samples_dir") for label, run in (("fast", fast), ("before", before)) if run}
    (args.out / SAMPLES_POINTER).write_text(json.dumps(samples, indent=2) + "\n")
    (args.out / "hf-suite.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "hf-suite.md").write_text(markdown(results))
    print(markdown(results))


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _stage_rows(run: dict[str, Any] | None) -> dict[str, float]:
    return dict(((run or {}).get("timing") or {}).get("stages_s", {}))


def markdown(r: dict[str, Any]) -> str:
    fast, before = r["fast"], r["before"]
    stages = [stage for stage in STAGES if stage in _stage_rows(fast) or stage in _stage_rows(before)]
    table = "\n".join(
        f"| {stage} | {_minutes(_stage_rows(fast).get(stage))} | {_minutes(_stage_rows(before).get(stage))} |"
        for stage in stages
    )
    tasks = ((fast.get("timing") or {}).get("tasks")) or {}
    task_rows = "\n".join(
        f"| {name} | {t['requests']} | {t['loglikelihood_s']:.0f} | {t['generation_s']:.0f} | {t['scoring_s']:.0f} |"
        for name, t in tasks.items()
    )
    # at the end the load is the bench's own (two busy cores); only the start says whether other work ran
    busy = r["load_average_at_start"][0] > 0.5 * (r["cpu_count"] or 1)
    note = (
        "**Provisional: the machine was busy with other work**; re-run on an idle machine."
        if busy
        else "The machine was otherwise idle."
    )
    answers = r.get("answers")
    same = "not compared (run with --before)" if answers is None else f"**{answers['same_answers']}**"
    before_line = (
        f"- before (lm-eval's own hf scoring and generation, batches of 16): {_minutes(before['process_s'])}; "
        f"fast / before: **{r['ratio_fast_over_before']:.3f}**"
        if before
        else "- before: not run (`make bench-suite BEFORE=1`)"
    )
    return f"""# The whole {r["suite"]} on the bundled model (hf backend)

`mindgate eval --tasks {r["suite"]} --no-use-cache`, {r["cpu_count"]} CPUs, load average
{r["load_average_at_start"][0]:.2f} at the start and {r["load_average_at_end"][0]:.2f} at the end (1 min).
scripts/bench_suite.py (`make bench-suite`). {note}

- wall time of the whole process: **{_minutes(fast["process_s"])}** (goal: at most {r["goal_s"] // 60} min)
{before_line}
- same answers (multiple choice within 1e-4 and the same choice, greedy replies byte for byte): {same}

| stage | fast | before |
|---|---:|---:|
{table}

Per task (fast run; model seconds split between tasks by the requests each batch finished):

| task | requests | log-likelihood s | generation s | scoring s |
|---|---:|---:|---:|---:|
{task_rows}
"""


if __name__ == "__main__":
    main()
