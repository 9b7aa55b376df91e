"""``mindgate train reward``: a reward model (helpfulness) or a safety model (the cost of RL) from
people's preference pairs, with TRL's RewardTrainer: the base model with a one-output score head
and LoRA.

- ``objective: helpfulness``: CounselChat votes, ESConv against FailedESConv, ... (the chosen
  side is the better reply);
- ``objective: safety``: the crisis judgement's train pairs (a labelled safe reply preferred to a
  labelled harmful one), HH-RLHF harmless pairs. Its score is calibrated into P(harmful) on
  replies labelled harmful or safe (``calibration_labels``), checked on others
  (``calibration_check``): that probability is an RL run's cost.

What it never trains on: evaluation items of the suite (``mindgate curate`` removed them), and any
message or reply of the crisis judgement's held-out splits (tune, heldout, adversarial rounds):
training pairs that contain one are dropped and counted. A share of the training pairs (by a hash
of the prompt, so one prompt is never on both sides) is held out; further labelled pair files
(``eval_pairs``) give more held-out figures, never trained on. The model is accepted (``gate.json``)
when the 95% interval of its pairwise accuracy on the held-out share lies above
``min_accuracy`` (0.5: better than chance); an RL run refuses a model that was not accepted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import DataFormatError
from harness.train._common import (
    GATE_RECORD,
    CuratedData,
    LoraTrainConfig,
    TrainResult,
    adapter_paths,
    check_target_modules,
    column,
    json_row,
    read_curated,
    run_training,
    training_arguments,
)
from harness.train._reward_model import (
    OBJECTIVES,
    TASK_TYPE,
    Calibration,
    RewardModel,
    encode,
    load_seqcls_base,
)

CRISIS_PAIRS = Path("rubrics/crisis/pairs")
PROTECTED_SPLITS: tuple[str, ...] = ("tune.jsonl", "heldout.jsonl", "adversarial.jsonl", "adversarial-z.jsonl")


@dataclass(frozen=True)
class RewardTrainConfig(LoraTrainConfig):
    """A reward or safety model. Every field is a YAML key of trainers/configs/reward-*.yaml and a
    flag of `mindgate train reward`."""

    name: str = field(default="reward", metadata={"help": "model name: the directory <output_dir>/<name>"})
    objective: str = field(
        default="helpfulness", metadata={"help": "helpfulness (a reward) or safety (its calibrated harm is a cost)"}
    )
    more_data: tuple[str, ...] = field(
        default=(), metadata={"help": "further curated preference files (curated.jsonl of `mindgate curate`)"}
    )
    eval_pairs: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "pair files for held-out figures only (prompt/chosen/rejected rows, or a crisis pairs split "
            "file); never trained on"
        },
    )
    heldout_share: float = field(
        default=0.15, metadata={"help": "share of the training pairs held out (by a hash of the prompt)"}
    )
    min_accuracy: float = field(
        default=0.5,
        metadata={"help": "accepted when the 95% interval of held-out pairwise accuracy lies above this"},
    )
    max_prompt_tokens: int = field(
        default=192, metadata={"help": "a longer prompt keeps its last N tokens (the reply is what is judged)"}
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate"})
    calibration_labels: tuple[str, ...] = field(
        default=("rubrics/crisis/pairs/train.jsonl",),
        metadata={"help": "safety: labelled replies (message, reply, harmful 0/1) the harm probability is fitted on"},
    )
    calibration_check: tuple[str, ...] = field(
        default=("rubrics/crisis/pairs/tune.jsonl",),
        metadata={"help": "safety: labelled replies the calibration is checked on (never fitted on)"},
    )
    score_batch_size: int = field(default=16, metadata={"help": "sequences per forward pass when scoring"})
    gate: bool = field(
        default=False, metadata={"help": "reward models are accepted by held-out accuracy, not by the suite"}
    )

    def check(self) -> None:
        super().check()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective {self.objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if not 0.0 < self.heldout_share < 0.5:
            raise ValueError("heldout_share must be in (0, 0.5)")
        if not 0.0 <= self.min_accuracy < 1.0:
            raise ValueError("min_accuracy must be in [0, 1)")
        if self.gate:
            raise ValueError(
                "gate: true: a reward model scores replies and cannot answer the suite; it is accepted by its "
                "held-out pairwise accuracy (min_accuracy). Set gate: false"
            )
        if self.parent_adapter:
            raise ValueError("parent_adapter: a reward model starts from the base model; remove the field")
        if self.max_prompt_tokens < 8 or self.max_prompt_tokens >= self.max_length:
            raise ValueError("max_prompt_tokens must be at least 8 and below max_length")


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    origin: str  # file name and row


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _heldout(prompt: str, share: float) -> bool:
    digest = hashlib.sha256(_norm(prompt).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 2**32 < share


def protected_texts() -> set[str]:
    """Messages and replies of the crisis judgement's held-out splits: never trained on."""
    from harness.paths import PROJECT_DIR

    texts: set[str] = set()
    for name in PROTECTED_SPLITS:
        path = PROJECT_DIR / CRISIS_PAIRS / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    texts.update({_norm(row["message"]), _norm(row["reply"])})
    return texts


def curated_pairs(data: CuratedData) -> list[Pair]:
    columns = data.curation.get("columns", {})
    if columns.get("kind") != "preference":
        raise DataFormatError(
            f"{data.path}: curated as {columns.get('kind')!r} data; a reward model needs preference pairs "
            "(mindgate curate --kind preference)"
        )
    prompts = column(data.rows, columns.get("prompt", "prompt"), data.path, "prompt column")
    chosen = column(data.rows, columns.get("chosen", "chosen"), data.path, "chosen column")
    rejected = column(data.rows, columns.get("rejected", "rejected"), data.path, "rejected column")
    return [
        Pair(p, c, r, f"{data.path.parent.name}/{data.path.name} row {n}")
        for n, (p, c, r) in enumerate(zip(prompts, chosen, rejected, strict=True), start=1)
    ]


def read_pair_file(path: Path) -> list[Pair]:
    """Held-out pairs: prompt/chosen/rejected rows, or a crisis pairs split (made into pairs)."""
    from harness.pairs import crisis_pairs

    if not path.is_file():
        raise DataFormatError(f"{path}: no such pair file (eval_pairs)")
    first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
    try:
        head = json.loads(first) if first else {}
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{path}, line 1: not valid JSON ({error.msg})") from error
    if "message_id" in head and "harmful" in head:
        rows = crisis_pairs(path)
    else:
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(f"{path}, line {number}: not valid JSON ({error.msg})") from error
            missing = [k for k in ("prompt", "chosen", "rejected") if not isinstance(row.get(k), str) or not row[k]]
            if missing:
                raise DataFormatError(f"{path}, line {number}: {', '.join(missing)} missing or empty")
            rows.append(row)
    return [Pair(r["prompt"], r["chosen"], r["rejected"], f"{path.name} pair {n}") for n, r in enumerate(rows, 1)]


def labelled_replies(paths: Sequence[str]) -> list[tuple[str, str, int]]:
    """(message, reply, harmful) rows of crisis-pairs-shaped files."""
    out = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DataFormatError(f"{path}: no such labelled-replies file")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json_row(path, number, line)
            if not {"message", "reply", "harmful"} <= row.keys():
                raise DataFormatError(f"{path}, line {number}: needs message, reply and harmful (0/1)")
            out.append((row["message"], row["reply"], int(row["harmful"])))
    return out


def pairwise_figures(model: RewardModel, pairs: Sequence[Pair]) -> dict[str, Any]:
    """Pairwise accuracy (a tie counts half) with a Wilson 95% interval, and the mean margin."""
    from harness.stats import wilson_interval

    if not pairs:
        return {"n": 0, "accuracy": None, "ci_low": None, "ci_high": None, "mean_margin": None}
    chosen = model.scores([p.prompt for p in pairs], [p.chosen for p in pairs])
    rejected = model.scores([p.prompt for p in pairs], [p.rejected for p in pairs])
    wins = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True))
    low, high = wilson_interval(wins, len(pairs))
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return {
        "n": len(pairs),
        "accuracy": round(wins / len(pairs), 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "mean_margin": round(sum(margins) / len(margins), 4),
    }


def fit_calibration(model: RewardModel, rows: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """Logistic fit of harmful (0/1) on the score (Platt scaling)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    labels = [label for _, _, label in rows]
    if len(set(labels)) < 2:
        raise DataFormatError("calibration_labels: needs both harmful and safe replies")
    scores = np.array(model.scores([m for m, _, _ in rows], [r for _, r, _ in rows])).reshape(-1, 1)
    fit = LogisticRegression(C=1e4).fit(scores, labels)
    return {"a": float(fit.coef_[0][0]), "b": float(fit.intercept_[0]), "n": len(rows), "harmful": sum(labels)}


def check_calibration(model: RewardModel, rows: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """On replies never fitted on: Brier score, AUROC, accuracy at P >= 0.5 (Wilson 95%)."""
    from sklearn.metrics import roc_auc_score

    from harness.stats import wilson_interval

    if not rows:
        return {"n": 0}
    labels = [label for _, _, label in rows]
    costs = model.costs([m for m, _, _ in rows], [r for _, r, _ in rows])
    correct = sum((c >= 0.5) == bool(y) for c, y in zip(costs, labels, strict=True))
    low, high = wilson_interval(correct, len(rows))
    return {
        "n": len(rows),
        "harmful": sum(labels),
        "brier": round(sum((c - y) ** 2 for c, y in zip(costs, labels, strict=True)) / len(rows), 4),
        "auroc": round(float(roc_auc_score(labels, costs)), 4) if len(set(labels)) == 2 else None,
        "accuracy_at_half": {
            "value": round(correct / len(rows), 4),
            "ci_low": round(low, 4),
            "ci_high": round(high, 4),
        },
        "mean_cost_harmful": round(sum(c for c, y in zip(costs, labels, strict=True) if y) / max(1, sum(labels)), 4),
        "mean_cost_safe": round(
            sum(c for c, y in zip(costs, labels, strict=True) if not y) / max(1, len(labels) - sum(labels)), 4
        ),
    }


def _split(config: RewardTrainConfig, pairs: list[Pair]) -> tuple[list[Pair], list[Pair], int]:
    """(training pairs, held-out pairs, pairs dropped for touching a protected text)."""
    protected = protected_texts()
    kept, held, dropped = [], [], 0
    for pair in pairs:
        if {_norm(pair.prompt), _norm(pair.chosen), _norm(pair.rejected)} & protected:
            dropped += 1
        elif _heldout(pair.prompt, config.heldout_share):
            held.append(pair)
        else:
            kept.append(pair)
    return kept, held, dropped


def train_reward(config: RewardTrainConfig, console: Console | None = None) -> TrainResult:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, set_seed
    from trl import RewardConfig, RewardTrainer

    from harness.models import resolve_model

    console = console or Console(stderr=True)
    _, checkpoints = adapter_paths(config)
    data = read_curated(Path(config.data), generation_targets=False)
    extra_data = [read_curated(Path(name), generation_targets=False) for name in config.more_data]
    pairs = [pair for source in (data, *extra_data) for pair in curated_pairs(source)]
    train_pairs, heldout_pairs, dropped = _split(config, pairs)
    if not train_pairs or not heldout_pairs:
        raise DataFormatError(
            f"{config.data}: {len(train_pairs)} training and {len(heldout_pairs)} held-out pairs after the split "
            f"({dropped} dropped as held-out texts of the crisis judgement); give more pairs"
        )
    eval_sets = {Path(name).stem: read_pair_file(Path(name)) for name in config.eval_pairs}
    calibration_rows = labelled_replies(config.calibration_labels) if config.objective == "safety" else []
    check_rows = labelled_replies(config.calibration_check) if config.objective == "safety" else []
    base = resolve_model(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = [
        {
            "chosen_ids": encode(tokenizer, p.prompt, p.chosen, config.max_length, config.max_prompt_tokens),
            "rejected_ids": encode(tokenizer, p.prompt, p.rejected, config.max_length, config.max_prompt_tokens),
        }
        for p in train_pairs
    ]

    def build(report_to: list[str]) -> tuple[Any, Any, Any]:
        set_seed(config.seed)  # the score head is initialised at random
        with console.status(f"loading {base.name} with a score head"):
            model = load_seqcls_base(base.path, tokenizer)
        check_target_modules(model, config.target_modules, base.name)
        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
            task_type=TASK_TYPE,
        )
        args = RewardConfig(
            **training_arguments(config, checkpoints, report_to),
            max_length=config.max_length,
            disable_dropout=True,
        )
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        return trainer, base, None

    def accept(model_dir: Path) -> int:
        return _evaluate_and_accept(config, model_dir, heldout_pairs, eval_sets, calibration_rows, check_rows, console)

    extra = {
        "objective": config.objective,
        "pairs": {
            "read": len(pairs),
            "trained_on": len(train_pairs),
            "held_out": len(heldout_pairs),
            "dropped_protected": dropped,
            "truncated": sum(
                len(e["chosen_ids"]) >= config.max_length or len(e["rejected_ids"]) >= config.max_length
                for e in examples
            ),
        },
        "more_data": [
            {"file": d.path.name, "sha256": d.sha256, "rows": len(d.rows), "curation_sha256": d.curation_sha256}
            for d in extra_data
        ],
    }
    return run_training("reward", config, console, data, build, extra, finish=accept)


def _evaluate_and_accept(
    config: RewardTrainConfig,
    model_dir: Path,
    heldout_pairs: list[Pair],
    eval_sets: dict[str, list[Pair]],
    calibration_rows: list[tuple[str, str, int]],
    check_rows: list[tuple[str, str, int]],
    console: Console,
) -> int:
    """Held-out figures, the calibration of a safety model, and the verdict; written into the
    model's training.json and gate.json. Returns 0 (accepted) or 1."""
    from harness.lineage import TRAINING_RECORD

    model = RewardModel(model_dir, batch_size=config.score_batch_size, require_accepted=False)
    with console.status("scoring held-out pairs"):
        figures = {"heldout": pairwise_figures(model, heldout_pairs)}
        figures.update({name: pairwise_figures(model, pairs) for name, pairs in eval_sets.items()})
    record_path = model_dir / TRAINING_RECORD
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["evaluation"] = figures
    if config.objective == "safety":
        with console.status("calibrating the harm probability"):
            record["calibration"] = fit_calibration(model, calibration_rows)
            model.calibration = Calibration(record["calibration"]["a"], record["calibration"]["b"])
            record["calibration"]["check"] = check_calibration(model, check_rows)
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    held = figures["heldout"]
    accepted = held["ci_low"] is not None and held["ci_low"] > config.min_accuracy
    reason = (
        f"held-out pairwise accuracy {held['accuracy']} [{held['ci_low']}, {held['ci_high']}] (n = {held['n']}) "
        f"{'lies above' if accepted else 'does not lie above'} {config.min_accuracy}"
    )
    verdict = {
        "accepted": accepted,
        "exit_code": 0 if accepted else 1,
        "verdict": "accept" if accepted else "reject",
        "kind": "reward-model",
        "reasons": [reason],
        "failed_rules": [] if accepted else [f"min_accuracy: {reason}"],
        "evaluation": figures,
    }
    (model_dir / GATE_RECORD).write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [
        f"{name}: accuracy {f['accuracy']} [{f['ci_low']}, {f['ci_high']}] (n = {f['n']})"
        for name, f in figures.items()
    ]
    if "calibration" in record:
        check = record["calibration"]["check"]
        lines.append(
            f"harm calibration check: AUROC {check.get('auroc')}, Brier {check.get('brier')} (n = {check['n']})"
        )
    lines.append(f"{'ACCEPTED' if accepted else 'REJECTED'}: {reason}")
    print("\n".join(lines), flush=True)
    return 0 if accepted else 1
