"""Benchmark the hf backend against lm-eval alone on the suite's multiple-choice tasks: `make bench`.

Both sides run as separate processes on the same tasks (mh_clinical_mcq and mh_dsm5_consistency:
clinical MCQ with multi-token options, DSM-5 diagnosis with 19 letter options, DSM-5 yes/no), the
same items (--limit per task), the same settings (float32, chat template, batch size 16, seed
1234, 0-shot, no request cache):

- lm-eval alone: `simple_evaluate` with lm-eval's own `hf` model, the project's task configs
  (``TaskManager(include_path="tasks")`` without lm-eval's own thousands of configs, as mindgate
  loads them);
- mindgate: `mindgate eval` (shared prefixes computed once, see harness/backends/_shared_prefix.py).

They alternate for --rounds rounds, so a change of load on the machine hits both. Reported: whole
process wall time of each (interpreter, imports, model load, evaluation, writing results) and the
evaluation alone, their ratio per round and over all rounds, and whether every item got the same
answer (log-likelihood within 1e-4, same is_greedy, same chosen option). The load average is
recorded: figures from a loaded machine are provisional. Writes reports/bench/hf-speed.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

TASKS = ("mh_clinical_mcq", "mh_dsm5_consistency")
TOLERANCE = 1e-4
SEED = 1234
BATCH_SIZE = 16


def compare_answers(
    ours: Mapping[str, Sequence[Mapping[str, Any]]], theirs: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Per task: items compared, largest log-likelihood gap, and the items whose answers differ
    (another is_greedy, another chosen option, a gap above the tolerance, or a missing item)."""
    report: dict[str, dict[str, Any]] = {}
    for task in sorted(set(ours) | set(theirs)):
        mine = {row["doc_id"]: _answers(row) for row in ours.get(task, [])}
        other = {row["doc_id"]: _answers(row) for row in theirs.get(task, [])}
        differing: list[Any] = sorted(set(mine) ^ set(other))
        largest = 0.0
        for doc_id in sorted(set(mine) & set(other)):
            a, b = mine[doc_id], other[doc_id]
            gaps = [abs(x[0] - y[0]) for x, y in zip(a, b, strict=False)]
            largest = max([largest, *gaps])
            if (
                len(a) != len(b)
                or any(gap > TOLERANCE for gap in gaps)
                or [x[1] for x in a] != [y[1] for y in b]
                or _chosen(a) != _chosen(b)
            ):
                differing.append(doc_id)
        report[task] = {"items": len(set(mine) & set(other)), "largest_gap": largest, "differing": sorted(differing)}
    return report


def _answers(row: Mapping[str, Any]) -> list[tuple[float, bool]]:
    """(log-likelihood, is_greedy) per option, from a logged sample's responses."""
    return [(float(resp[0][0]), bool(resp[0][1])) for resp in row["resps"]]


def _chosen(answers: Sequence[tuple[float, bool]]) -> int:
    return max(range(len(answers)), key=lambda index: answers[index][0])


def lm_eval_worker(limit: int, out: Path) -> None:
    """Runs in its own process: lm-eval alone, timed, its per-item samples saved."""
    started = time.monotonic()
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from harness.models import ensure_default_model
    from harness.paths import TASKS_DIR

    model_dir = ensure_default_model().path
    loading = time.monotonic()
    lm = HFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=BATCH_SIZE)
    evaluating = time.monotonic()
    results = simple_evaluate(
        model=lm,
        tasks=list(TASKS),
        limit=limit,
        log_samples=True,
        apply_chat_template=True,
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
        random_seed=SEED,
        numpy_random_seed=SEED,
        torch_random_seed=SEED,
        fewshot_random_seed=SEED,
        bootstrap_iters=0,
    )
    finished = time.monotonic()
    assert results is not None
    samples = {
        task: [{"doc_id": r["doc_id"], "resps": r["resps"]} for r in rows] for task, rows in results["samples"].items()
    }
    out.write_text(
        json.dumps(
            {
                "samples": samples,
                "model_load_s": evaluating - loading,
                "evaluation_s": finished - evaluating,
                "in_process_s": finished - started,
            }
        )
    )


def run_lm_eval_alone(limit: int, work: Path, round_index: int) -> dict[str, Any]:
    out = work / f"lm-eval-{round_index}.json"
    started = time.monotonic()
    _run([sys.executable, __file__, "--worker", "--limit", str(limit), "--worker-out", str(out)])
    process_s = time.monotonic() - started
    return json.loads(out.read_text()) | {"process_s": process_s}


def run_mindgate(limit: int, work: Path, round_index: int) -> dict[str, Any]:
    runs = work / f"runs-{round_index}"
    env = {"MINDGATE_RUNS_DIR": str(runs), "MINDGATE_DB": str(work / "leaderboard.db")}
    args = ["--tasks", ",".join(TASKS), "--limit", str(limit), "--batch-size", str(BATCH_SIZE)]
    args += ["--seed", str(SEED), "--no-use-cache"]
    started = time.monotonic()
    _run([sys.executable, "-m", "harness", "eval", *args], env)
    process_s = time.monotonic() - started
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    record = json.loads((run_dir / "run.json").read_text())
    samples = {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted((run_dir / "samples").glob("*.jsonl"))
    }
    stages = (record.get("timing") or {}).get("stages_s", {})
    evaluation_s = sum(stages.get(s, 0.0) for s in ("setup", "loglikelihood", "generation", "scoring", "aggregation"))
    return {
        "samples": samples,
        "process_s": process_s,
        "model_load_s": stages.get("model_load"),
        "evaluation_s": evaluation_s,
        "stages_s": stages,
    }


def _run(command: list[str], env: Mapping[str, str] | None = None) -> None:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    result = subprocess.run(command, cwd=PROJECT, env=full_env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=60, help="items per task")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "bench")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        lm_eval_worker(args.limit, args.worker_out)
        return
    from harness.models import ensure_default_model

    ensure_default_model()  # converted once, before anything is timed
    work = Path(tempfile.mkdtemp(prefix="mindgate-bench-speed-"))
    load_start = os.getloadavg()
    rounds = []
    for index in range(args.rounds):
        order = ("lm-eval", "mindgate") if index % 2 == 0 else ("mindgate", "lm-eval")
        measured: dict[str, dict[str, Any]] = {}
        for side in order:
            print(f"round {index + 1}/{args.rounds}: {side}", flush=True)
            runner = run_lm_eval_alone if side == "lm-eval" else run_mindgate
            measured[side] = runner(args.limit, work, index)
        rounds.append(measured)
    results = summarise(rounds, args.limit, load_start, os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hf-speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "hf-speed.md").write_text(markdown(results))
    print(markdown(results))


def summarise(
    rounds: list[dict[str, dict[str, Any]]], limit: int, load_start: Sequence[float], load_end: Sequence[float]
) -> dict[str, Any]:
    answers = [compare_answers(r["mindgate"]["samples"], r["lm-eval"]["samples"]) for r in rounds]
    per_round = [
        {side: {key: value for key, value in r[side].items() if key != "samples"} for side in ("lm-eval", "mindgate")}
        | {
            "ratio_process": r["mindgate"]["process_s"] / r["lm-eval"]["process_s"],
            "ratio_evaluation": r["mindgate"]["evaluation_s"] / r["lm-eval"]["evaluation_s"],
        }
        for r in rounds
    ]
    total = {side: sum(r[side]["process_s"] for r in rounds) for side in ("lm-eval", "mindgate")}
    evaluation = {side: sum(r[side]["evaluation_s"] for r in rounds) for side in ("lm-eval", "mindgate")}
    return {
        "tasks": list(TASKS),
        "limit_per_task": limit,
        "batch_size": BATCH_SIZE,
        "rounds": per_round,
        "ratio_process_all_rounds": total["mindgate"] / total["lm-eval"],
        "ratio_evaluation_all_rounds": evaluation["mindgate"] / evaluation["lm-eval"],
        "answers": answers[0],
        "same_answers_every_round": all(not t["differing"] for a in answers for t in a.values()),
        "items_compared": sum(t["items"] for t in answers[0].values()),
        "largest_loglikelihood_gap": max(t["largest_gap"] for a in answers for t in a.values()),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(load_end),
        "goal": "mindgate process wall time <= 0.5 x lm-eval's",
    }


def markdown(r: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {i + 1} | {x['lm-eval']['process_s']:.1f} | {x['mindgate']['process_s']:.1f} | {x['ratio_process']:.3f} | "
        f"{x['lm-eval']['evaluation_s']:.1f} | {x['mindgate']['evaluation_s']:.1f} | {x['ratio_evaluation']:.3f} |"
        for i, x in enumerate(r["rounds"])
    )
    stages = r["rounds"][-1]["mindgate"].get("stages_s", {})
    stage_line = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items())
    answers = "\n".join(
        f"| {task} | {a['items']} | {a['largest_gap']:.1e} | {len(a['differing'])} |"
        for task, a in r["answers"].items()
    )
    # at the end the load is the bench's own (two busy cores); only the start says whether other work ran
    busy = r["load_average_at_start"][0] > 0.5 * (r["cpu_count"] or 1)
    provisional = (
        "**Provisional: the machine was busy with other work** (load average above), so the seconds are "
        "inflated; the ratios, measured alternately in one run, are the figures to read. Re-run on an idle machine."
        if busy
        else "The machine was otherwise idle."
    )
    return f"""# hf backend: mindgate against lm-eval alone (multiple choice)

Tasks {", ".join(r["tasks"])}, the first {r["limit_per_task"]} items of each task, float32, chat
template, batch size {r["batch_size"]}, no request cache; {r["cpu_count"]} CPUs; load average
{r["load_average_at_start"][0]:.2f} at the start, {r["load_average_at_end"][0]:.2f} at the end (1 min).
One invocation of `make bench` (scripts/bench_speed.py); the two sides alternate.

{provisional}

| round | lm-eval process s | mindgate process s | ratio | lm-eval evaluation s | mindgate evaluation s | ratio |
|---:|---:|---:|---:|---:|---:|---:|
{rows}

- mindgate / lm-eval wall time, whole processes, all rounds: **{r["ratio_process_all_rounds"]:.3f}**
  (goal: {r["goal"].split("<= ")[1]})
- the evaluation alone (no interpreter start, imports or model load): **{r["ratio_evaluation_all_rounds"]:.3f}**
- mindgate's stages (last round): {stage_line}

## Same answers

{r["items_compared"]} items; same answers in every round: **{r["same_answers_every_round"]}** (log-likelihood
within 1e-4, same is_greedy, same chosen option); largest log-likelihood gap
{r["largest_loglikelihood_gap"]:.1e}.

| task | items | largest gap | items differing |
|---|---:|---:|---:|
{answers}
"""


if __name__ == "__main__":
    main()
