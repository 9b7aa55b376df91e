"""Reward-model data and configs, without training: crisis pairs, the held-out split, the texts a
reward model never trains on, data curated without safety filters, and reward directories that
are not chat adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.curate.pipeline import CurationConfig, curate
from harness.curate.records import ColumnSpec
from harness.errors import AdapterMismatchError, DataFormatError
from harness.models import resolve_adapter
from harness.pairs import MAX_PAIRS_PER_QUESTION, build_pairs
from harness.paths import PROJECT_DIR
from harness.train import RewardTrainConfig, TrainConfigError, load_config
from harness.train._common import read_curated
from harness.train._reward import Pair, _heldout, _split, protected_texts, read_pair_file


def _crisis_row(row_id: str, message_id: str, reply: str, harmful: int) -> dict[str, object]:
    return {
        "id": row_id,
        "message_id": message_id,
        "message": f"message {message_id}",
        "reply": reply,
        "harmful": harmful,
        "split": "train",
        "tier": "high",
        "licence": "Apache-2.0 (project)",
    }


def test_crisis_pairs_prefer_a_safe_reply_and_use_each_reply_evenly(tmp_path: Path) -> None:
    rows = [_crisis_row(f"s{i}", "m1", f"safe {i}", 0) for i in range(2)]
    rows += [_crisis_row(f"h{i}", "m1", f"harm {i}", 1) for i in range(5)]
    rows += [_crisis_row("s9", "m2", "only safe", 0)]  # no harmful reply: no pair
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = build_pairs("crisis", path)
    assert len(pairs) == MAX_PAIRS_PER_QUESTION
    assert all(p["chosen"].startswith("safe") and p["rejected"].startswith("harm") for p in pairs)
    assert {p["chosen"] for p in pairs} == {"safe 0", "safe 1"}  # both safe replies used
    assert len({p["rejected"] for p in pairs}) == MAX_PAIRS_PER_QUESTION
    # read as held-out pairs, a crisis split file is made into the same pairs
    assert [(p.chosen, p.rejected) for p in read_pair_file(path)] == [(p["chosen"], p["rejected"]) for p in pairs]


def test_a_crisis_file_without_labels_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x", "message": "m", "reply": "r"}) + "\n")
    with pytest.raises(DataFormatError, match=r"bad.jsonl, line 1: fields message_id, harmful, split missing"):
        build_pairs("crisis", path)


def test_held_out_pairs_are_chosen_by_prompt_and_protected_texts_are_dropped() -> None:
    protected = protected_texts()
    tune = (PROJECT_DIR / "rubrics/crisis/pairs/tune.jsonl").read_text().splitlines()
    sample = json.loads(tune[0])
    assert " ".join(sample["message"].lower().split()) in protected
    config = RewardTrainConfig(data="x", heldout_share=0.3)
    pairs = [Pair(f"prompt {i}", "good", "bad", f"row {i}") for i in range(200)]
    pairs += [Pair(f"prompt {i}", "another good", "another bad", f"row b{i}") for i in range(200)]
    pairs.append(Pair(sample["message"].upper(), "good", "bad", "protected"))
    kept, held, dropped = _split(config, pairs)
    assert dropped == 1 and len(kept) + len(held) == 400
    assert 0.2 < len(held) / 400 < 0.4
    # one prompt is never on both sides
    assert not {p.prompt for p in kept} & {p.prompt for p in held}
    assert _heldout("Prompt 7", 0.3) == _heldout("  prompt   7 ", 0.3)


def test_reward_configs_refuse_the_gate_a_parent_and_unknown_objectives(tmp_path: Path) -> None:
    path = tmp_path / "reward.yaml"
    for text, message in [
        ("data: x\nobjective: kindness\n", "objective 'kindness'"),
        ("data: x\ngate: true\n", "cannot answer the suite"),
        ("data: x\nparent_adapter: reports/adapters/sft\n", "starts from the base model"),
        ("data: x\nheldout_share: 0.7\n", "heldout_share"),
        ("data: x\nmax_prompt_tokens: 600\nmax_length: 512\n", "max_prompt_tokens"),
    ]:
        path.write_text(text)
        with pytest.raises(TrainConfigError, match=message):
            load_config(RewardTrainConfig, path)
    for name in ("reward-safety.yaml", "reward-helpfulness.yaml"):
        config = load_config(RewardTrainConfig, PROJECT_DIR / "trainers" / "configs" / name)
        assert config.objective in name and not config.gate


def test_data_curated_without_safety_filters_is_for_reward_models_only(tmp_path: Path) -> None:
    source = tmp_path / "pairs.jsonl"
    source.write_text(
        json.dumps({"prompt": "I feel low", "chosen": "I'm sorry. Tell me more?", "rejected": "No."}) + "\n"
    )
    settings = CurationConfig(pii_engine="regex", crisis_filter=False, toxicity_filter=False, decontaminate=False)
    curate(source, ColumnSpec(kind="preference"), tmp_path / "curated", settings)
    curated = tmp_path / "curated" / "curated.jsonl"
    with pytest.raises(DataFormatError, match="curated with crisis_filter and toxicity_filter off"):
        read_curated(curated)
    assert len(read_curated(curated, generation_targets=False).rows) == 1


def test_a_reward_model_directory_is_not_a_chat_adapter_and_the_reverse(tmp_path: Path) -> None:
    reward = tmp_path / "reward"
    reward.mkdir()
    (reward / "adapter_config.json").write_text(json.dumps({"task_type": "SEQ_CLS", "r": 8}))
    with pytest.raises(AdapterMismatchError, match=r"a reward model .* cannot generate"):
        resolve_adapter(str(reward))
    assert resolve_adapter(str(reward), task_type="SEQ_CLS").rank == 8
    chat = tmp_path / "chat"
    chat.mkdir()
    (chat / "adapter_config.json").write_text(json.dumps({"task_type": "CAUSAL_LM", "r": 8}))
    with pytest.raises(AdapterMismatchError, match="not a reward model"):
        resolve_adapter(str(chat), task_type="SEQ_CLS")
