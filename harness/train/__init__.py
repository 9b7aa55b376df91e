"""Bundled trainers (LoRA SFT, DPO, reward models, GRPO/RLOO): thin compositions of TRL and PEFT that
end at the gate."""

from harness.train._common import LoraTrainConfig, TrainResult
from harness.train._config import TrainConfigError, add_arguments, load_config
from harness.train._dpo import DPOTrainConfig, train_dpo
from harness.train._reward import RewardTrainConfig, train_reward
from harness.train._reward_model import RewardModel, RewardModelError
from harness.train._rl import RLTrainConfig, train_rl
from harness.train._sft import SFTTrainConfig, train_sft

__all__ = [
    "DPOTrainConfig",
    "LoraTrainConfig",
    "RLTrainConfig",
    "RewardModel",
    "RewardModelError",
    "RewardTrainConfig",
    "SFTTrainConfig",
    "TrainConfigError",
    "TrainResult",
    "add_arguments",
    "load_config",
    "train_dpo",
    "train_reward",
    "train_rl",
    "train_sft",
]
