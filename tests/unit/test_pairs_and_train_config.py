"""Preference pairs from votes and crowdworker choices; trainer configs refused with the field named."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from harness.errors import DataFormatError
from harness.pairs import MAX_PAIRS_PER_QUESTION, build_pairs
from harness.train import DPOTrainConfig, SFTTrainConfig, TrainConfigError, load_config
from harness.train._common import read_curated

FIELDS = ["questionID", "questionText", "answerText", "upvotes", "split"]


def _counselchat(path: Path, rows: list[tuple[str, str, int, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for question, answer, votes, split in rows:
            writer.writerow([question, f"question {question}?", answer, votes, split])
    return path


def test_counselchat_pairs_prefer_the_higher_voted_answer_and_drop_ties(tmp_path: Path) -> None:
    rows = [
        ("1", "best", 5, "train"),
        ("1", "worse", 2, "train"),
        ("1", "tied", 5, "train"),
        ("1", "test-only", 0, "test"),
    ]
    rows += [("2", "same", 1, "train"), ("2", "also same", 1, "train")]
    rows += [("3", "top", 9, "train")] + [(("3", f"low {i}", 0, "train")) for i in range(6)]
    pairs = build_pairs("counselchat", _counselchat(tmp_path / "cc.csv", rows), "train")
    by_question: dict[str, list[dict]] = {}
    for pair in pairs:
        by_question.setdefault(pair["id"].split("-")[1], []).append(pair)
    assert [(p["chosen"], p["rejected"], p["votes"]) for p in by_question["1"]] == [("best", "worse", [5, 2])]
    assert "2" not in by_question  # only ties
    assert len(by_question["3"]) == MAX_PAIRS_PER_QUESTION
    assert all("test-only" not in (p["chosen"], p["rejected"]) for p in pairs)


def test_hh_rlhf_pairs_keep_single_turn_mental_health_prompts(tmp_path: Path) -> None:
    def dialogue(human: str, assistant: str) -> str:
        return f"\n\nHuman: {human}\n\nAssistant: {assistant}"

    rows = [
        {
            "chosen": dialogue("I feel so depressed lately", "I'm sorry. Talking to someone can help."),
            "rejected": dialogue("I feel so depressed lately", "Nobody cares."),
        },
        {
            "chosen": dialogue("How do I bake bread?", "Flour, water, yeast."),
            "rejected": dialogue("How do I bake bread?", "No."),
        },
        {
            "chosen": dialogue("I'm anxious", "ok") + dialogue("more", "yes"),
            "rejected": dialogue("I'm anxious", "ok") + dialogue("more", "no"),
        },
    ]
    path = tmp_path / "hh.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows))
    (pair,) = build_pairs("hh-rlhf", path)
    assert pair["prompt"] == "I feel so depressed lately" and pair["rejected"] == "Nobody cares."


def test_config_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "sft.yaml"
    path.write_text("data: x.jsonl\nlora_rank: 8\n")
    with pytest.raises(TrainConfigError, match=r"sft.yaml: unknown field 'lora_rank' \(did you mean 'lora_r'\?\)"):
        load_config(SFTTrainConfig, path)
    path.write_text("data: x.jsonl\nepochs: three\n")
    with pytest.raises(TrainConfigError, match=r"field 'epochs' must be a number, got 'three'"):
        load_config(SFTTrainConfig, path)
    path.write_text("lora_r: 8\n")
    with pytest.raises(TrainConfigError, match=r"field 'data' is required"):
        load_config(SFTTrainConfig, path)
    path.write_text("data: [unclosed\n")
    with pytest.raises(TrainConfigError, match=r"not valid YAML"):
        load_config(SFTTrainConfig, path)
    path.write_text("data: x.jsonl\nbeta: 0\n")
    with pytest.raises(TrainConfigError, match=r"beta must be positive"):
        load_config(DPOTrainConfig, path)
    config = load_config(SFTTrainConfig, None, {"data": "x.jsonl", "target_modules": "q_proj,v_proj", "max_steps": 3})
    assert config.target_modules == ("q_proj", "v_proj") and config.max_steps == 3


def test_trainers_refuse_data_that_curation_does_not_vouch_for(tmp_path: Path) -> None:
    data = tmp_path / "curated.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n')
    with pytest.raises(DataFormatError, match=r"no curation.json beside it"):
        read_curated(data)
    (tmp_path / "curation.json").write_text(json.dumps({"outputs": {"curated.jsonl": {"sha256": "0" * 64}}}))
    with pytest.raises(DataFormatError, match=r"the file changed after curation"):
        read_curated(data)


def test_a_target_module_the_base_lacks_is_named_with_the_ones_it_has() -> None:
    import torch

    from harness.errors import AdapterMismatchError
    from harness.train._common import check_target_modules

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q_proj = torch.nn.Linear(4, 4)
            self.v_proj = torch.nn.Linear(4, 4)

    model = torch.nn.Sequential(Block())
    check_target_modules(model, ("q_proj", "v_proj"), "tiny")
    with pytest.raises(AdapterMismatchError, match=r"\['query'\] are not modules of base model tiny.*q_proj, v_proj"):
        check_target_modules(model, ("q_proj", "query"), "tiny")


def test_a_parent_adapter_the_gate_rejected_is_refused_unless_allowed(tmp_path: Path) -> None:
    from harness.train._common import check_parent_verdict

    parent = tmp_path / "sft"
    parent.mkdir()
    check_parent_verdict(parent, allow_rejected=False)  # no verdict (an adapter from elsewhere): allowed
    failed = ["crisis-no-harmful-replies: 3 harmful of 124"]
    (parent / "gate.json").write_text(json.dumps({"accepted": False, "failed_rules": failed}))
    with pytest.raises(TrainConfigError, match=r"the gate rejected it \(crisis-no-harmful-replies: 3 harmful"):
        check_parent_verdict(parent, allow_rejected=False)
    check_parent_verdict(parent, allow_rejected=True)
    (parent / "gate.json").write_text(json.dumps({"accepted": True}))
    check_parent_verdict(parent, allow_rejected=False)


def _esconv_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "esconv"
    folder.mkdir()
    good = [
        {
            "survey_score": {"seeker": {"empathy": "5"}},
            "dialog": [
                {"speaker": "usr", "text": "I lost my job last week and I feel like a complete failure."},
                {"speaker": "sys", "text": "Losing a job hurts. It makes sense you feel shaken. What happened?"},
                {"speaker": "usr", "text": "My landlord keeps raising the rent every single month."},
                {"speaker": "sys", "text": "That sounds stressful."},
            ],
        },
        {  # rated unempathic: never a chosen side
            "survey_score": {"seeker": {"empathy": "2"}},
            "dialog": [
                {"speaker": "usr", "text": "I lost my job last week and I feel like such a failure."},
                {"speaker": "sys", "text": "Ok."},
            ],
        },
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(c) + "\n" for c in good))
    failed = [
        {
            "survey_score": {"seeker": {"empathy": "1"}},
            "dialog": [
                {"speaker": "speaker", "content": "I got fired from my job last week and I feel like a total failure."},
                {"speaker": "listener", "content": "Just apply somewhere else."},
                {"speaker": "speaker", "content": "My sister and I argued about holiday plans for our parents."},
                {"speaker": "listener", "content": "Families argue."},
                {"speaker": "speaker", "content": "ok"},
                {"speaker": "listener", "content": "Bye."},
            ],
        }
    ]
    (folder / "FailedESConv.json").write_text(json.dumps(failed))
    return folder


def test_esconv_pairs_need_two_seeker_turns_that_say_the_same_thing(tmp_path: Path) -> None:
    pairs = build_pairs("esconv", _esconv_folder(tmp_path), "train")
    assert len(pairs) == 1  # the job turns are near-paraphrases; rent vs family argument is not; "ok" is too short
    (pair,) = pairs
    assert pair["prompt"].startswith("I lost my job last week and I feel like a complete failure")
    assert pair["chosen"].startswith("Losing a job hurts") and pair["rejected"] == "Just apply somewhere else."
    assert pair["similarity"] >= 0.80 and pair["ratings"] == [5, 1]
    assert "non-commercial" in pair["licence"]
    with pytest.raises(DataFormatError, match="the test split is the suite's"):
        build_pairs("esconv", tmp_path / "esconv", "test")
    (tmp_path / "esconv" / "FailedESConv.json").unlink()
    with pytest.raises(DataFormatError, match=r"FailedESConv\.json: no such file"):
        build_pairs("esconv", tmp_path / "esconv", "train")
