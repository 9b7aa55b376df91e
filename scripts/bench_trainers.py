"""Benchmark the bundled trainers against plain TRL with the same configuration: `make bench`.

For SFT and DPO, two separate processes train the bundled model for the same number of optimizer
steps on the same curated data with the same LoRA and optimizer settings (no gate, no tracking):

- mindgate: `mindgate train sft|dpo` (curated-data check, LoRA set-up, seeding, checkpoints,
  atomic save with its training record);
- plain TRL: a short script that builds the same SFTTrainer / DPOTrainer with PEFT's LoraConfig
  and calls `train()` and `save_model()`.

They alternate for --rounds rounds. Reported per side: seconds per optimizer step (TRL's
`train_runtime` / steps), whole-process wall time and peak resident memory (`/usr/bin/time -v`),
and the ratios mindgate / plain TRL (goal: <= 1.05). The data is tests/fixtures/curt_advice.jsonl
(30 rows; preference pairs pair each reply with another row's), curated first. The load average
is recorded: figures from a loaded machine are provisional. Writes reports/bench/trainers.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

OUT = PROJECT / "reports" / "bench"
FIXTURE = PROJECT / "tests" / "fixtures" / "curt_advice.jsonl"
SETTINGS: dict[str, Any] = {
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "learning_rate": 2e-4,
    "batch_size": 4,
    "max_length": 256,
    "seed": 0,
}

PLAIN = r"""
import json, sys, time
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoTokenizer, set_seed
import torch
kind, model_dir, data, steps, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
s = json.loads(sys.argv[6])
rows = [json.loads(line) for line in open(data)]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
lora = LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
                  target_modules=s["target_modules"], task_type="CAUSAL_LM")
common = dict(output_dir=out, learning_rate=s["learning_rate"], max_steps=steps,
              per_device_train_batch_size=s["batch_size"],
              seed=s["seed"], data_seed=s["seed"], logging_steps=1, save_strategy="no", report_to=[],
              use_cpu=True, bf16=False,
              max_length=s["max_length"])
set_seed(s["seed"])
if kind == "sft":
    from trl import SFTConfig, SFTTrainer
    data = [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "completion": [{"role": "assistant", "content": r["response"]}]} for r in rows]
    trainer = SFTTrainer(model=model_dir, args=SFTConfig(**common, completion_only_loss=True),
                         train_dataset=Dataset.from_list(data), processing_class=tokenizer, peft_config=lora)
else:
    from trl import DPOConfig, DPOTrainer
    data = [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
    trainer = DPOTrainer(model=model_dir, args=DPOConfig(**common, beta=0.1), train_dataset=Dataset.from_list(data),
                         processing_class=tokenizer, peft_config=lora)
trainer.train()
trainer.save_model(out + "/adapter")
runtime = next(e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e)
print("BENCH " + json.dumps({"steps": trainer.state.global_step, "train_runtime": runtime}))
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS in KiB) of one process under /usr/bin/time -v."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env, cwd=PROJECT)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    assert wall is not None
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    assert rss is not None
    return result.stdout, seconds, int(rss.group(1))


def _data(tmp: Path) -> tuple[Path, Path]:
    from harness.curate.pipeline import CurationConfig, curate
    from harness.curate.records import ColumnSpec

    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    config = CurationConfig(
        pii_engine="regex", toxicity_filter=False, crisis_filter=False, decontaminate=False, dedup=False
    )
    curate(FIXTURE, ColumnSpec(kind="sft"), tmp / "sft", config)
    pairs = tmp / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps(
                {"prompt": r["prompt"], "chosen": r["response"], "rejected": rows[(i + 7) % len(rows)]["response"]}
            )
            + "\n"
            for i, r in enumerate(rows)
        )
    )
    curate(pairs, ColumnSpec(kind="preference"), tmp / "dpo", config)
    return tmp / "sft" / "curated.jsonl", tmp / "dpo" / "curated.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per trainer")
    args = parser.parse_args()
    from harness.models import ensure_default_model

    model_dir = str(ensure_default_model().path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sft_data, dpo_data = _data(tmp)
        for kind, data in (("sft", sft_data), ("dpo", dpo_data)):
            results[kind] = {"mindgate": [], "plain_trl": []}
            for round_number in range(args.rounds):
                name = f"{kind}-{round_number}"
                ours = [
                    sys.executable,
                    "-m",
                    "harness",
                    "train",
                    kind,
                    "--data",
                    str(data),
                    "--output-dir",
                    str(tmp / "ours"),
                    "--name",
                    name,
                    "--max-steps",
                    str(args.steps),
                    "--save-steps",
                    "1000000",
                    "--logging-steps",
                    "1",
                    "--no-gate",
                    "--report-to",
                    "none",
                    "--warmup-ratio",
                    "0",
                    "--gradient-accumulation-steps",
                    "1",
                ]
                for key, value in SETTINGS.items():
                    flag = "--" + key.replace("_", "-")
                    ours += [flag, ",".join(value) if isinstance(value, list) else str(value)]
                _, wall, rss = _timed(ours, env)
                record = json.loads((tmp / "ours" / name / "training.json").read_text())
                results[kind]["mindgate"].append(
                    {
                        "s_per_step": record["train_runtime_s"] / record["steps"],
                        "wall_s": wall,
                        "peak_rss_mib": rss / 1024,
                    }
                )
                plain = [
                    sys.executable,
                    "-c",
                    PLAIN,
                    kind,
                    model_dir,
                    str(data),
                    str(args.steps),
                    str(tmp / f"plain-{name}"),
                    json.dumps(SETTINGS),
                ]
                stdout, wall, rss = _timed(plain, env)
                bench = json.loads(stdout.split("BENCH ", 1)[1].splitlines()[0])
                results[kind]["plain_trl"].append(
                    {"s_per_step": bench["train_runtime"] / bench["steps"], "wall_s": wall, "peak_rss_mib": rss / 1024}
                )
                print(kind, round_number, results[kind]["mindgate"][-1], results[kind]["plain_trl"][-1], flush=True)
    summary = {
        kind: {
            side: {
                metric: statistics.median(r[metric] for r in runs)
                for metric in ("s_per_step", "wall_s", "peak_rss_mib")
            }
            for side, runs in sides.items()
        }
        for kind, sides in results.items()
    }
    for kind in summary:
        summary[kind]["ratio"] = {
            metric: summary[kind]["mindgate"][metric] / summary[kind]["plain_trl"][metric]
            for metric in ("s_per_step", "wall_s", "peak_rss_mib")
        }
    record = {
        "steps": args.steps,
        "rounds": args.rounds,
        "settings": SETTINGS,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "runs": results,
        "median": summary,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trainers.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Trainers against plain TRL",
        "",
        "Generated by `scripts/bench_trainers.py` (`make bench`); do not edit by hand. Same model, data, LoRA and "
        f"optimizer settings, {args.steps} optimizer steps per run, {args.rounds} alternating rounds, medians. "
        f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs.",
        "",
        "| trainer | s/step mindgate | s/step plain TRL | ratio | peak RSS mindgate (MiB) | plain TRL | ratio | "
        "process wall mindgate (s) | plain TRL | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, s in summary.items():
        m, p, r = s["mindgate"], s["plain_trl"], s["ratio"]
        lines.append(
            f"| {kind} | {m['s_per_step']:.3f} | {p['s_per_step']:.3f} | {r['s_per_step']:.3f} | "
            f"{m['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} | {r['peak_rss_mib']:.3f} | "
            f"{m['wall_s']:.1f} | {p['wall_s']:.1f} | {r['wall_s']:.3f} |"
        )
    lines += [
        "",
        "Process wall time includes what plain TRL does not do: mindgate's checks of the curated data, the "
        "base model's hash, the adapter's training record and its atomic save. The goal (ratio <= 1.05) is about "
        "seconds per step and peak memory.",
        "",
    ]
    (OUT / "trainers.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
