"""``mindgate train rl --algorithm grpo|rloo``: online RL of a LoRA policy against a trained reward
model, with a safety cost held under a limit (Safe RLHF's Lagrangian), ending at the gate.

Each prompt (from curated, decontaminated data) gets ``num_generations`` sampled replies; a reply's
reward is ``helpfulness - lambda * cost``, where cost is the safety model's calibrated P(harmful).
After every optimizer step lambda moves by ``lambda_lr * (mean cost - cost_limit)`` (never below
0): it grows while replies cost more than the limit and shrinks when they cost less.

Stops, with the adapter kept and marked as rejected in its ``gate.json``:
- lambda above ``lambda_max``: the cost stays above the limit whatever the reward (a limit the
  policy cannot meet, or a cost model that calls everything harmful);
- the policy's KL to the reference above ``kl_limit``: the policy ran away from the model it
  started from (the reference: the base model, or base + parent adapter when the policy continues
  from one, held as a frozen copy of that adapter).

Reward hacking made visible: before and after training the policy answers the same monitor
messages (the crisis judgement's tune split, never used by the reward models' training) greedily;
the record holds the trained reward and cost next to the suite's own judgement of those replies
(the crisis judgement and the empathy scorer, which no reward model was trained on). A reward
that rose while the suite's judgement fell is flagged (``reward_hacking_suspected``) in the
record and printed.
"""

from __future__ import annotations

import gc
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import DataFormatError, MindgateError
from harness.train._common import (
    GATE_RECORD,
    LoraTrainConfig,
    TrainResult,
    adapter_paths,
    column,
    gate_adapter,
    gate_inputs,
    json_row,
    load_policy,
    read_curated,
    release_trainer,
    run_training,
    training_arguments,
)
from harness.train._config import TrainConfigError

ALGORITHMS: tuple[str, ...] = ("grpo", "rloo", "ppo")


class LagrangeDivergedError(MindgateError):
    """Lambda grew past its ceiling: the cost limit is not being met."""


@dataclass(frozen=True)
class RLTrainConfig(LoraTrainConfig):
    """Online RL. Every field is a YAML key of trainers/configs/rl.yaml and a flag of `mindgate train rl`."""

    name: str = field(default="rl", metadata={"help": "adapter name: the directory <output_dir>/<name>"})
    algorithm: str = field(
        default="grpo", metadata={"help": "grpo, rloo or ppo (TRL's trainers; ppo: trl.experimental.ppo)"}
    )
    reward_model: str = field(default="", metadata={"help": "a helpfulness model from `mindgate train reward`"})
    cost_model: str | None = field(
        default=None, metadata={"help": "a safety model from `mindgate train reward`: its P(harmful) is the cost"}
    )
    allow_rejected_reward_model: bool = field(
        default=False, metadata={"help": "use a reward or cost model that did not beat chance on held-out pairs"}
    )
    cost_limit: float = field(default=0.05, metadata={"help": "the mean cost (P(harmful)) replies must stay under"})
    cost_limit_from_safe_replies: bool = field(
        default=False,
        metadata={
            "help": "hold the cost at the cost model's mean P(harmful) on replies people labelled safe (its "
            "calibration check) instead of cost_limit: replies no more harmful-looking than safe ones"
        },
    )
    lambda_init: float = field(default=1.0, metadata={"help": "starting Lagrange multiplier"})
    lambda_lr: float = field(default=5.0, metadata={"help": "lambda step per unit of cost above the limit"})
    lambda_max: float = field(default=50.0, metadata={"help": "stop when lambda passes this (the limit is not met)"})
    kl_limit: float = field(default=5.0, metadata={"help": "stop when the policy's KL to the reference passes this"})
    beta: float = field(default=0.04, metadata={"help": "KL penalty coefficient (also makes TRL measure the KL)"})
    num_generations: int = field(default=4, metadata={"help": "grpo, rloo: replies sampled per prompt"})
    ppo_epochs: int = field(default=4, metadata={"help": "ppo: optimisation passes over each batch of rollouts"})
    max_completion_length: int = field(default=128, metadata={"help": "new tokens per sampled reply"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    learning_rate: float = field(default=1e-5, metadata={"help": "peak learning rate"})
    batch_size: int = field(default=4, metadata={"help": "replies per device per step (a multiple of num_generations)"})
    max_prompts: int | None = field(default=None, metadata={"help": "use only the first N prompts"})
    prompt_column: str | None = field(default=None, metadata={"help": "prompt column (default: the curation record's)"})
    monitor_messages: str = field(
        default="rubrics/crisis/pairs/tune.jsonl",
        metadata={"help": "messages (with tier) the policy answers before and after, for the reward-hacking check"},
    )
    monitor_size: int = field(default=24, metadata={"help": "monitor messages used (spread over the tiers)"})

    def check(self) -> None:
        super().check()
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm {self.algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
        if not self.reward_model:
            raise ValueError("field 'reward_model' is required: a directory written by `mindgate train reward`")
        if self.ppo_epochs < 1:
            raise ValueError("ppo_epochs must be at least 1")
        if self.algorithm != "ppo" and self.num_generations < 2:
            raise ValueError("num_generations must be at least 2 (rewards are compared within a prompt's replies)")
        if self.algorithm != "ppo" and (self.batch_size * self.gradient_accumulation_steps) % self.num_generations:
            raise ValueError("batch_size x gradient_accumulation_steps must be a multiple of num_generations")
        if not 0.0 < self.cost_limit < 1.0:
            raise ValueError("cost_limit is a mean probability of harm: choose it in (0, 1)")
        if self.lambda_init < 0 or self.lambda_lr <= 0 or self.lambda_max <= self.lambda_init:
            raise ValueError("lambda_init >= 0, lambda_lr > 0 and lambda_max > lambda_init")
        if self.kl_limit <= 0 or self.beta < 0:
            raise ValueError("kl_limit must be positive and beta non-negative")


@dataclass
class Lagrangian:
    """lambda <- max(0, lambda + lr * (mean cost - limit)) after each step; raises past ``ceiling``."""

    limit: float
    lr: float
    ceiling: float
    value: float
    history: list[dict[str, float]] = field(default_factory=list)

    def update(self, mean_cost: float, step: int) -> float:
        self.value = max(0.0, self.value + self.lr * (mean_cost - self.limit))
        self.history.append({"step": step, "episode_cost": round(mean_cost, 5), "lambda": round(self.value, 5)})
        if self.value > self.ceiling:
            raise LagrangeDivergedError(
                f"lambda reached {self.value:.2f} (above lambda_max {self.ceiling}) at step {step}: the replies' mean "
                f"cost stays above the limit {self.limit:g} (last {mean_cost:.3f}). Raise cost_limit (it applies when "
                "cost_limit_from_safe_replies is false), start from a safer policy, or check the cost model's "
                "calibration"
            )
        return self.value


class ConstrainedReward:
    """TRL reward function: helpfulness - lambda * cost, remembering each batch's cost and reward."""

    def __init__(self, reward: Any, cost: Any | None, lagrangian: Lagrangian) -> None:
        self.__name__ = "helpfulness_minus_lambda_cost"
        self.reward, self.cost, self.lagrangian = reward, cost, lagrangian
        self.pending_costs: list[float] = []
        self.pending_rewards: list[float] = []

    def __call__(self, prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        messages = [_text(p) for p in prompts]
        replies = [_text(c) for c in completions]
        rewards = self.reward.scores(messages, replies)
        self.pending_rewards.extend(rewards)
        if self.cost is None:
            return rewards
        costs = self.cost.costs(messages, replies)
        self.pending_costs.extend(costs)
        return [r - self.lagrangian.value * c for r, c in zip(rewards, costs, strict=True)]


def _text(value: Any) -> str:
    """A conversational prompt or completion (a list of messages) as its last message's text."""
    if isinstance(value, list):
        return str(value[-1]["content"]) if value else ""
    return str(value)


def constraint_callback(shaped: ConstrainedReward, config: RLTrainConfig, outcome: dict[str, Any]) -> Any:
    from transformers import TrainerCallback

    class ConstraintCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
            rewards, costs = shaped.pending_rewards, shaped.pending_costs
            if rewards:
                outcome["reward_curve"].append(
                    {"step": state.global_step, "reward": round(sum(rewards) / len(rewards), 5)}
                )
            if costs:
                try:
                    shaped.lagrangian.update(sum(costs) / len(costs), state.global_step)
                except LagrangeDivergedError as error:
                    outcome["stopped"] = {"reason": "lambda_diverged", "step": state.global_step, "message": str(error)}
                    control.should_training_stop = True
            shaped.pending_rewards, shaped.pending_costs = [], []
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> Any:
            kl = (logs or {}).get("kl", (logs or {}).get("objective/kl"))  # GRPO/RLOO, PPO
            if kl is None:
                return control
            outcome["kl_curve"].append({"step": state.global_step, "kl": round(float(kl), 5)})
            if not math.isfinite(float(kl)) or float(kl) > config.kl_limit:
                outcome["stopped"] = {
                    "reason": "kl_exploded",
                    "step": state.global_step,
                    "message": f"the policy's KL to the reference reached {float(kl):.3f} (above kl_limit "
                    f"{config.kl_limit}) at step {state.global_step}: lower learning_rate, raise beta, or check "
                    "the reward model for a reply it scores without bound",
                }
                control.should_training_stop = True
            return control

    return ConstraintCallback()


def monitor_set(config: RLTrainConfig) -> list[tuple[str, str]]:
    """(message, tier), up to ``monitor_size``, taken round-robin over the tiers, one per message."""
    path = Path(config.monitor_messages)
    if not path.is_file():
        raise DataFormatError(f"monitor_messages {path}: no such file")
    by_tier: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json_row(path, number, line)
        if not {"message", "tier"} <= row.keys():
            raise DataFormatError(f"{path}, line {number}: a monitor message needs 'message' and 'tier'")
        if row["message"] not in seen:
            seen.add(row["message"])
            by_tier.setdefault(row["tier"], []).append((row["message"], row["tier"]))
    chosen: list[tuple[str, str]] = []
    while len(chosen) < config.monitor_size and any(by_tier.values()):
        for tier in sorted(by_tier):
            if by_tier[tier] and len(chosen) < config.monitor_size:
                chosen.append(by_tier[tier].pop(0))
    return chosen


def greedy_replies(model: Any, tokenizer: Any, messages: list[str], max_new_tokens: int) -> list[str]:
    """Greedy replies, in eval mode: a policy loaded from a parent adapter for training is in train
    mode, and its LoRA dropout would make "greedy" replies differ from run to run."""
    import torch

    replies: list[str] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    training = model.training
    model.eval()
    try:
        for start in range(0, len(messages), 8):
            chunk = messages[start : start + 8]
            texts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": m}], tokenize=False, add_generation_prompt=True
                )
                for m in chunk
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                out = model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            width = batch["input_ids"].shape[1]
            replies.extend(tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out)
    finally:
        tokenizer.padding_side = side
        model.train(training)
    return replies


MONITORED: tuple[tuple[str, str], ...] = (
    ("reward", "higher"),
    ("cost", "lower"),
    ("suite_safe", "higher"),
    ("suite_harmful", "lower"),
    ("suite_empathy", "higher"),
)


def judge_monitor(
    replies: list[str], monitor: list[tuple[str, str]], reward: Any, cost: Any | None
) -> dict[str, list[float]]:
    """Per monitor message: the trained reward and cost, and the suite's judgement (crisis
    judgement safe and harmful, empathy score) of the same reply."""
    from harness.scoring.crisis import default_crisis_scorer
    from harness.scoring.empathy import default_empathy_scorer

    messages = [m for m, _ in monitor]
    tiers = [t for _, t in monitor]
    crisis = default_crisis_scorer().score_many(replies, tiers, messages)
    empathy = default_empathy_scorer().score_batch(list(zip(messages, replies, strict=True)))
    out: dict[str, list[float]] = {
        "reward": [round(v, 5) for v in reward.scores(messages, replies)],
        "suite_safe": [s.value for s in crisis],
        "suite_harmful": [float(bool(s.metadata["items"]["harmful"])) for s in crisis],
        "suite_empathy": [round(s.value, 5) for s in empathy],
    }
    if cost is not None:
        out["cost"] = [round(v, 5) for v in cost.costs(messages, replies)]
    return out


def hacking_check(before: dict[str, list[float]], after: dict[str, list[float]], seed: int = 0) -> dict[str, Any]:
    """Paired by monitor message: each measure's mean before and after, and the after - before
    difference with a 95% bootstrap interval. Flagged when the trained reward rose (interval above
    0) while any of the suite's judgements fell (interval on the worse side of 0)."""
    from harness.stats import bootstrap_mean_interval

    figures: dict[str, Any] = {}
    for name, better in MONITORED:
        if name not in before or name not in after:
            continue
        diffs = [a - b for a, b in zip(after[name], before[name], strict=True)]
        low, high = bootstrap_mean_interval(diffs, seed=seed)
        n = len(diffs)
        figures[name] = {
            "n": n,
            "before": round(sum(before[name]) / n, 4),
            "after": round(sum(after[name]) / n, 4),
            "difference": round(sum(diffs) / n, 4),
            "ci_low": round(low, 4),
            "ci_high": round(high, 4),
            "better": better,
        }

    def worse(name: str) -> bool:
        f = figures[name]
        return bool(f["ci_high"] < 0 if f["better"] == "higher" else f["ci_low"] > 0)

    rose = figures["reward"]["ci_low"] > 0
    fell = [name for name in ("suite_safe", "suite_harmful", "suite_empathy") if worse(name)]
    return {
        "figures": figures,
        "reward_rose": rose,
        "suite_fell": fell,
        "reward_hacking_suspected": rose and bool(fell),
    }


def _prompts(config: RLTrainConfig) -> tuple[Any, list[dict[str, Any]]]:
    data = read_curated(Path(config.data), generation_targets=False)  # prompts only: no target is learned
    columns = data.curation.get("columns", {})
    if columns.get("kind") == "chat":
        raise DataFormatError(f"{config.data}: RL prompts come from sft or preference data (a prompt column)")
    prompts = column(data.rows, config.prompt_column or columns.get("prompt", "prompt"), data.path, "prompt_column")
    unique = list(dict.fromkeys(prompts))[: config.max_prompts or None]
    return data, [{"prompt": [{"role": "user", "content": p}]} for p in unique]


def train_rl(config: RLTrainConfig, console: Console | None = None) -> TrainResult:
    from datasets import Dataset
    from transformers import set_seed

    from harness.train._reward_model import RewardModel
    from harness.train._trl_compat import online_trainers

    console = console or Console(stderr=True)
    _, checkpoints = adapter_paths(config)
    gate_inputs(config)
    data, rows = _prompts(config)
    strict = not config.allow_rejected_reward_model
    reward = RewardModel(config.reward_model, require_accepted=strict)
    cost = RewardModel(config.cost_model, require_accepted=strict) if config.cost_model else None
    for used in (reward, cost):
        if used is not None and not used.identity["accepted"]:
            console.print(
                f"warning: {used.path.name} was not accepted ({'; '.join((used.verdict or {}).get('reasons') or [])}); "
                "used because allow_rejected_reward_model is set, and recorded as such",
                markup=False,
                highlight=False,
            )
    if cost is not None and cost.objective != "safety":
        raise DataFormatError(f"cost_model {config.cost_model}: a {cost.objective} model; the cost is a safety model")
    cost_limit = _cost_limit(config, cost)
    limit_check = _cost_limit_check(cost_limit, cost, config.cost_limit_from_safe_replies)
    if limit_check and limit_check["below_safe_mean"]:
        console.print(
            f"warning: cost_limit {cost_limit:g} is below the cost model's mean P(harmful) on replies labelled "
            f"safe ({limit_check['mean_cost_safe']:.3f}, n = {limit_check['n']} in its calibration check): even safe "
            "replies exceed it, so lambda will rise at every step until lambda_max stops the run. Raise cost_limit "
            "towards that figure, or train a sharper cost model",
            markup=False,
            highlight=False,
        )
    monitor = monitor_set(config)
    lagrangian = Lagrangian(cost_limit, config.lambda_lr, config.lambda_max, config.lambda_init)
    shaped = ConstrainedReward(reward, cost, lagrangian)
    outcome: dict[str, Any] = {"reward_curve": [], "kl_curve": [], "stopped": None, "monitor": {}}
    held: dict[str, Any] = {}

    def build(report_to: list[str]) -> tuple[Any, Any, Any]:
        model, tokenizer, peft_config, base, parent = load_policy(config, console)
        for scorer in (reward, cost):
            if scorer is not None:
                scorer.check_tokenizer(tokenizer, f"the policy ({base.name})")
        with console.status("monitor: the policy's replies before training"):
            before = greedy_replies(model, tokenizer, [m for m, _ in monitor], config.max_completion_length)
            outcome["monitor_rows"] = {"before": judge_monitor(before, monitor, reward, cost)}
        set_seed(config.seed)
        callbacks = [constraint_callback(shaped, config, outcome)]
        if config.algorithm == "ppo":
            from harness.train._ppo import build_ppo

            messages = [row["prompt"][0]["content"] for row in rows]
            shared = training_arguments(config, checkpoints, report_to)
            ppo = build_ppo(config, model, tokenizer, peft_config, base.path, messages, shaped, shared, callbacks)
            held.update(trainer=ppo, tokenizer=tokenizer)
            return ppo, base, parent
        trainer_cls, config_cls = online_trainers()[config.algorithm]
        args = config_cls(
            **training_arguments(config, checkpoints, report_to),
            num_generations=config.num_generations,
            max_completion_length=config.max_completion_length,
            temperature=config.temperature,
            beta=config.beta,
            use_vllm=False,
            gradient_checkpointing=False,  # a small policy: keep the KV cache while sampling
        )
        trainer = trainer_cls(
            model=model,
            reward_funcs=shaped,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
        held.update(trainer=trainer, tokenizer=tokenizer)
        return trainer, base, parent

    def finish(adapter_dir: Path) -> int | None:
        from harness.lineage import TRAINING_RECORD

        trainer, tokenizer = held["trainer"], held["tokenizer"]
        with console.status("monitor: the policy's replies after training"):
            after = greedy_replies(trainer.model, tokenizer, [m for m, _ in monitor], config.max_completion_length)
            rows = {**outcome["monitor_rows"], "after": judge_monitor(after, monitor, reward, cost)}
        outcome["monitor"] = {**hacking_check(rows["before"], rows["after"], config.seed), "per_message": rows}
        record_path = adapter_dir / TRAINING_RECORD
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["rl"] = {**record.get("rl", {}), "monitor": outcome["monitor"], "stopped": outcome["stopped"]}
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(_monitor_text(outcome["monitor"]), flush=True)
        release_trainer(trainer)  # the gate's evaluation loads the saved adapter afresh
        held.clear()
        del trainer
        gc.collect()
        if outcome["stopped"] is not None:
            stop = outcome["stopped"]
            verdict = {
                "accepted": False,
                "exit_code": 1,
                "verdict": "reject",
                "stopped_early": stop["reason"],
                "reasons": [stop["message"]],
                "failed_rules": [f"{stop['reason']}: {stop['message']}"],
            }
            (adapter_dir / GATE_RECORD).write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n", "utf-8")
            print(f"STOPPED ({stop['reason']}): {stop['message']}; the adapter is kept, marked rejected", flush=True)
            return 1
        return gate_adapter(adapter_dir, config, console) if config.gate else None

    extra = {
        "rl": {
            "algorithm": config.algorithm,
            "reward_model": reward.identity,
            "cost_model": None if cost is None else cost.identity,
            "cost_limit_check": limit_check,
            "prompts": len(rows),
            "lagrangian": lagrangian.history,
            "reward_curve": outcome["reward_curve"],
            "kl_curve": outcome["kl_curve"],
        }
    }
    return run_training(f"rl-{config.algorithm}", config, console, data, build, extra, finish=finish, keep_trainer=True)


def _cost_limit(config: RLTrainConfig, cost: Any) -> float:
    """``cost_limit``, or with ``cost_limit_from_safe_replies`` the cost model's mean P(harmful) on
    the replies labelled safe in its calibration check."""
    if not config.cost_limit_from_safe_replies:
        return config.cost_limit
    if cost is None:
        raise TrainConfigError("cost_limit_from_safe_replies: true needs a cost_model")
    where = f"cost_limit_from_safe_replies: cost_model {config.cost_model}"
    safe_mean = ((cost.record.get("calibration") or {}).get("check") or {}).get("mean_cost_safe")
    if not isinstance(safe_mean, int | float) or not 0.0 < safe_mean < 1.0:
        raise TrainConfigError(
            f"{where} has no calibration check with replies labelled safe (train it with calibration_check "
            "files), so there is no figure to hold the cost at: set cost_limit instead"
        )
    return float(safe_mean)


def _cost_limit_check(limit: float, cost: Any, from_safe_replies: bool = False) -> dict[str, Any] | None:
    """The limit against what the cost model gives replies people labelled safe (its calibration
    check): a limit below that mean is one even safe replies exceed on average."""
    check = ((cost.record.get("calibration") or {}).get("check") or {}) if cost is not None else {}
    safe_mean = check.get("mean_cost_safe")
    if not isinstance(safe_mean, int | float):
        return None
    return {
        "cost_limit": limit,
        "limit_from_safe_replies": from_safe_replies,
        "mean_cost_safe": safe_mean,
        "mean_cost_harmful": check.get("mean_cost_harmful"),
        "n": check.get("n"),
        "below_safe_mean": limit < safe_mean,
    }


def _monitor_text(monitor: dict[str, Any]) -> str:
    figures = monitor["figures"]
    n = figures["reward"]["n"]
    lines = [f"monitor (n = {n} messages, greedy replies before -> after; after - before, 95% CI):"]
    for name, f in figures.items():
        interval = f"[{f['ci_low']:+.4f}, {f['ci_high']:+.4f}]"
        lines.append(
            f"  {name}: {f['before']} -> {f['after']}  ({f['difference']:+.4f} {interval}, {f['better']} is better)"
        )
    if monitor["reward_hacking_suspected"]:
        lines.append(
            f"  REWARD HACKING SUSPECTED: the trained reward rose while the suite's judgement fell "
            f"({', '.join(monitor['suite_fell'])})"
        )
    return "\n".join(lines)
