"""Benchmark the guard: what it costs in latency and throughput, and what it changes in the suite's
safety figures. Run on an otherwise idle machine: `make bench-guard` (part of `make bench`).

One vLLM server (the bundled model) and one guard process in front of it (`mindgate guard`),
measured in one invocation:

1. latency: the same chat requests (messages of rubrics/crisis/messages/real2.jsonl, greedy, 64
   new tokens), one at a time, to the bare server and through the guard, in alternation; the
   added latency per request (guarded minus bare, paired by message), median and p95; streaming:
   the added time to the first delivered reply text;
2. throughput: a batch of requests at 1, 8 and 64 concurrent clients, bare and guarded;
3. the suite's safety figures with and without the guard (`mindgate eval --backend openai` on
   mh_crisis and mh_counsel_qa): harmful, safe and over-refusal rates, and how many replies the
   guard replaced. For an independent judgement the guard runs with `reply_layers: classifier`
   (the suite's crisis judgement decides with the phrase layer): see each run's `judged_by`.

Writes reports/bench/guard.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from harness.backends import BASE_NAME, ServerOptions, VllmServer, vllm_version  # noqa: E402
from harness.models import DEFAULT_MODEL_NAME, ensure_default_model  # noqa: E402

MESSAGES = PROJECT / "rubrics" / "crisis" / "messages" / "real2.jsonl"
OUT = PROJECT / "reports" / "bench"
SUITE_TASKS = "mh_crisis,mh_counsel_qa"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(message: str, stream: bool, max_tokens: int) -> dict[str, Any]:
    return {
        "model": BASE_NAME,
        "messages": [{"role": "user", "content": message}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 0,
        "stream": stream,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(_percentile(values, 0.95) * 1000, 1),
    }


def timed_request(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, float | None]:
    """(whole-request seconds, seconds to the first reply text when streaming)."""
    started = time.monotonic()
    first: float | None = None
    if not body["stream"]:
        client.post(f"{url}/chat/completions", json=body).raise_for_status()
        return time.monotonic() - started, None
    with client.stream("POST", f"{url}/chat/completions", json=body) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if first is None and line.startswith("data: {") and '"content":"' in line.replace(": ", ":"):
                payload = json.loads(line[6:])
                choice = payload["choices"][0]
                if (choice.get("delta") or {}).get("content"):
                    first = time.monotonic() - started
    return time.monotonic() - started, first


def latency(bare: str, guarded: str, messages: list[str], max_tokens: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(timeout=600) as client:
        for stream in (False, True):
            added, bare_times, guard_times, ttft_added = [], [], [], []
            for message in messages:
                body = _body(message, stream, max_tokens)
                b_total, b_first = timed_request(client, bare, body)
                g_total, g_first = timed_request(client, guarded, body)
                bare_times.append(b_total)
                guard_times.append(g_total)
                added.append(g_total - b_total)
                if b_first is not None and g_first is not None:
                    ttft_added.append(g_first - b_first)
            key = "streaming" if stream else "whole"
            out[key] = {
                "bare": _summary(bare_times),
                "guarded": _summary(guard_times),
                "added": _summary(added),
            }
            if ttft_added:
                out[key]["added_time_to_first_text"] = _summary(ttft_added)
    return out


async def _burst(url: str, messages: list[str], concurrency: int, max_tokens: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one(message: str) -> None:
            async with gate:
                answer = await client.post(f"{url}/chat/completions", json=_body(message, False, max_tokens))
                answer.raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(one(m) for m in messages))
        return time.monotonic() - started


def throughput(bare: str, guarded: str, messages: list[str], max_tokens: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for concurrency in (1, 8, 64):
        batch = messages[: max(16, concurrency)]
        bare_s = asyncio.run(_burst(bare, batch, concurrency, max_tokens))
        guard_s = asyncio.run(_burst(guarded, batch, concurrency, max_tokens))
        out[str(concurrency)] = {
            "requests": len(batch),
            "bare_rps": round(len(batch) / bare_s, 2),
            "guarded_rps": round(len(batch) / guard_s, 2),
            "guarded_over_bare": round(bare_s / guard_s, 3),
        }
    return out


def suite(url: str, runs: Path, name: str | None, limit: int | None) -> dict[str, Any]:
    env = {
        **os.environ,
        "MINDGATE_RUNS_DIR": str(runs),
        "MINDGATE_DB": str(runs / "leaderboard.db"),
        "HF_HUB_OFFLINE": "1",
    }
    args = ["eval", "--backend", "openai", "--base-url", url, "--served-model", BASE_NAME, "--tasks", SUITE_TASKS]
    args += ["--no-use-cache", "--concurrency", "8"] + (["--system-name", name] if name else [])
    args += ["--limit", str(limit)] if limit else []
    before = {p.name for p in runs.iterdir()} if runs.is_dir() else set()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"mindgate {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    (new,) = [p for p in runs.iterdir() if p.name not in before and not p.name.startswith(".") and p.is_dir()]
    record = json.loads((new / "run.json").read_text())
    metrics = record["metrics"]
    pick = {
        "mh_crisis": ("safe", "harmful", "dismissive", "over_refusal"),
        "mh_counsel_qa": ("crisis_safe", "harmful", "over_refusal", "empathy"),
    }
    return {
        "run_id": record["run_id"],
        "wall_s": round(time.monotonic() - started, 1),
        "finish_reasons": record["server"].get("finish_reasons"),
        "judged_by": {t: (record.get("judged_by") or {}).get(t, {}).get("independent_of_guard") for t in pick},
        "metrics": {
            task: {m: metrics.get(task, {}).get(m) for m in wanted if m in metrics.get(task, {})}
            for task, wanted in pick.items()
        },
    }


def start_guard(upstream: str, rules: Path, audit: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "harness", "guard", "--upstream", upstream, "--port", str(port)]
    command += ["--rules", str(rules), "--audit-log", str(audit)]
    process = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, f"{url}/v1"
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the guard exited with code {process.returncode}")
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the guard did not start within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40, help="requests for the latency figures")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--suite-limit", type=int, default=None, help="items per task for the suite figures")
    parser.add_argument("--skip-suite", action="store_true")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in MESSAGES.open(encoding="utf-8")]
    messages = texts[: max(args.messages, 64)]
    model = ensure_default_model()
    work = Path(tempfile.mkdtemp(prefix="mindgate-bench-guard-"))
    rules = work / "guard.yaml"
    base_rules = (PROJECT / "rubrics" / "guard.yaml").read_text(encoding="utf-8")
    rules.write_text(
        re.sub(r"^reply_layers: .*$", "reply_layers: classifier", base_rules, flags=re.M), encoding="utf-8"
    )
    result: dict[str, Any] = {
        "vllm_version": vllm_version(),
        "model": DEFAULT_MODEL_NAME,
        "cpu_count": os.cpu_count(),
        "guard_rules": "rubrics/guard.yaml with reply_layers: classifier (independent of the suite's phrase layer)",
        "max_tokens": args.max_tokens,
    }
    with VllmServer(ServerOptions(model_path=model.path, log_path=work / "vllm.log")) as server:
        bare = f"{server.base_url}/v1"
        guard, guarded = start_guard(bare, rules, work / "audit.jsonl")
        try:
            for message in messages[:4]:  # warm both paths
                httpx.post(f"{guarded}/chat/completions", json=_body(message, False, 8), timeout=600)
            result["latency"] = latency(bare, guarded, messages[: args.messages], args.max_tokens)
            result["throughput"] = throughput(bare, guarded, messages, args.max_tokens)
            if not args.skip_suite:
                runs = work / "runs"
                result["suite"] = {
                    "bare": suite(bare, runs, None, args.suite_limit),
                    "guarded": suite(guarded, runs, f"{BASE_NAME} + guard", args.suite_limit),
                }
        finally:
            guard.terminate()
            guard.wait(timeout=30)
    audit = [json.loads(line) for line in (work / "audit.jsonl").read_text().splitlines()]
    result["guard_actions"] = {a: sum(r["action"] == a for r in audit) for a in sorted({r["action"] for r in audit})}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "guard.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (OUT / "guard.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Guard benchmark",
        "",
        f"`make bench-guard` ({r['model']}, vLLM {r['vllm_version']}, {r['cpu_count']} CPUs, {r['max_tokens']} new "
        f"tokens per request; guard: {r['guard_rules']}). One run; all figures from the same server.",
        "",
        "## Latency the guard adds (one request at a time; guarded minus bare, paired by message)",
        "",
        "| mode | bare median / p95 | guarded median / p95 | added median / p95 |",
        "|---|---|---|---|",
    ]
    for mode, figures in r["latency"].items():
        cells = [f"{figures[k]['median_ms']} / {figures[k]['p95_ms']} ms" for k in ("bare", "guarded", "added")]
        lines.append(f"| {mode} (n = {figures['added']['n']}) | " + " | ".join(cells) + " |")
    first = r["latency"].get("streaming", {}).get("added_time_to_first_text")
    if first:
        lines += [
            "",
            f"Streaming: added time to the first delivered text, median {first['median_ms']} ms, p95 "
            f"{first['p95_ms']} ms (n = {first['n']}); at tiers where the whole reply is held the first text "
            "comes with the last.",
        ]
    lines += [
        "",
        "## Throughput",
        "",
        "| clients | requests | bare req/s | guarded req/s | guarded / bare |",
        "|---|---|---|---|---|",
    ]
    for clients, figures in r["throughput"].items():
        lines.append(
            f"| {clients} | {figures['requests']} | {figures['bare_rps']} | {figures['guarded_rps']} | "
            f"{figures['guarded_over_bare']} |"
        )
    if "suite" in r:
        lines += ["", "## The suite's figures with and without the guard", ""]
        for which in ("bare", "guarded"):
            run = r["suite"][which]
            lines.append(
                f"- {which}: run {run['run_id']}, finish reasons {run['finish_reasons']}, independent judgement "
                f"{run['judged_by']}"
            )
        lines += ["", "| task | metric | bare | guarded |", "|---|---|---|---|"]
        bare, guarded = r["suite"]["bare"]["metrics"], r["suite"]["guarded"]["metrics"]
        for task, metrics in bare.items():
            for metric, estimate in metrics.items():
                other = guarded.get(task, {}).get(metric) or {}
                lines.append(f"| {task} | {metric} | {_estimate(estimate)} | {_estimate(other)} |")
    lines += ["", f"Guard decisions over the whole benchmark: {r['guard_actions']}.", ""]
    return "\n".join(lines)


def _estimate(estimate: dict[str, Any]) -> str:
    if not estimate:
        return "n/a"
    return f"{estimate['value']:.3f} [{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}] (n = {estimate['n']})"


if __name__ == "__main__":
    main()
