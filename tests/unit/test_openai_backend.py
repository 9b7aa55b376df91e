"""`mindgate eval --backend openai` against a real local HTTP server whose replies the test fixes
(tests/openai_standin.py): what is sent, what the run records, and what is refused before anything
runs. The same backend against the real vLLM server: tests/integration/test_openai_backend_vllm.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.errors import MindgateError
from harness.run import evaluate, load_run
from harness.run._config import EvalConfig
from tests.openai_standin import StandIn, serving

REPLY = "I'm really glad you told me. You can call or text 988 any time, day or night."


def _config(url: str, **fields: Any) -> EvalConfig:
    return EvalConfig(backend="openai", base_url=url, use_cache=False, **fields)


def _quiet() -> Console:
    return Console(stderr=True, quiet=True)


def test_generation_tasks_run_through_chat_completions_and_the_record_names_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_KEY", "sekret-42")
    with serving(StandIn(reply=lambda messages: REPLY)) as standin:
        [run_dir] = evaluate(
            _config(standin.url, tasks=("mh_crisis",), limit=3, api_key_env="STANDIN_KEY", concurrency=2),
            _quiet(),
            tmp_path / "runs",
        )
    record = load_run(run_dir)
    assert record["backend"] == "openai" and record["status"] == "completed"
    assert record["model"]["name"] == "stand-in-model" and record["model"]["content_hash"].startswith("endpoint:")
    assert record["model"]["path"] is None
    server = record["server"]
    assert server["endpoint"] == {"base_url": standin.url, "api_key_env": "STANDIN_KEY"}
    assert server["served_model"] == "stand-in-model" and server["guard"] is None
    assert server["finish_reasons"] == {"stop": 3} and server["requests_sent"] == 3
    assert "sekret-42" not in (run_dir / "run.json").read_text(encoding="utf-8")
    assert set(standin.auth) == {"Bearer sekret-42"}
    # each request is the task's chat messages, greedy, with the task's length limit
    for body in standin.bodies:
        assert body["model"] == "stand-in-model" and body["temperature"] == 0.0
        assert body["messages"][-1]["role"] == "user" and body["max_tokens"] > 0
    replies = [json.loads(line)["resps"][0][0] for line in (run_dir / "samples" / "mh_crisis.jsonl").open()]
    assert replies == [REPLY] * 3


def test_a_guarded_endpoint_is_a_different_system_from_the_bare_one(tmp_path: Path) -> None:
    guard = {"rules_sha256": "abc", "classifiers": ["crisis-reply-v1"]}
    with serving(StandIn(listing_extra={"mindgate_guard": guard})) as guarded, serving(StandIn()) as bare:
        [guarded_dir] = evaluate(_config(guarded.url, tasks=("mh_crisis",), limit=1), _quiet(), tmp_path / "runs")
        [bare_dir] = evaluate(_config(bare.url, tasks=("mh_crisis",), limit=1), _quiet(), tmp_path / "runs")
    guarded_record, bare_record = load_run(guarded_dir), load_run(bare_dir)
    assert guarded_record["model"]["name"] == "stand-in-model + guard"
    assert guarded_record["server"]["guard"] == guard
    assert guarded_record["model"]["content_hash"] != bare_record["model"]["content_hash"]
    # this guard does not say which layers decided its blocks: its crisis figures are not independent
    assert guarded_record["judged_by"]["mh_crisis"]["independent_of_guard"] is False
    assert bare_record["judged_by"]["mh_crisis"]["independent_of_guard"] is None


def test_multiple_choice_tasks_are_refused_before_anything_runs_when_the_endpoint_lacks_prompt_logprobs(
    tmp_path: Path,
) -> None:
    with serving(StandIn(prompt_logprobs=False)) as standin:
        needs = r"mh_medqa_psychiatry.* need the prompt's log-probabilities.*no --tokenizer"
        with pytest.raises(MindgateError, match=needs):
            evaluate(_config(standin.url, tasks=("mh_clinical_mcq", "mh_crisis")), _quiet(), tmp_path / "runs")
        with pytest.raises(MindgateError, match=r"does not return them|refused a prompt with echo") as refused:
            evaluate(
                _config(standin.url, tasks=("mh_clinical_mcq", "mh_crisis"), tokenizer="smollm2-135m-instruct"),
                _quiet(),
                tmp_path / "runs",
            )
        assert "--tasks mh_crisis" in str(refused.value)
        assert not [b for b in standin.bodies if "messages" in b], "a chat request was sent before the refusal"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_multiple_choice_runs_on_prompt_logprobs_with_the_served_models_chat_template(tmp_path: Path) -> None:
    with serving(StandIn()) as standin:
        [run_dir] = evaluate(
            _config(standin.url, tasks=("mh_clinical_mcq",), limit=2, tokenizer="smollm2-135m-instruct"),
            _quiet(),
            tmp_path / "runs",
        )
    record = load_run(run_dir)
    assert record["status"] == "completed" and record["server"]["prompt_logprobs"] is True
    assert record["server"]["tokenizer"]["name"] == "smollm2-135m-instruct"
    scored = [b for b in standin.bodies if b.get("echo") and b.get("max_tokens") == 1 and b.get("logprobs") == 1]
    assert scored, "no log-likelihood request reached the endpoint"
    from transformers import AutoTokenizer

    from harness.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("smollm2-135m-instruct").path))
    prompt = scored[0]["prompt"]
    text = tokenizer.decode(prompt[0] if isinstance(prompt[0], list) else prompt)  # a batch of one, as token ids
    assert text.startswith("<|im_start|>system") and "<|im_start|>assistant\n" in text


def test_adapters_and_a_missing_address_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MindgateError, match="needs --base-url"):
        evaluate(EvalConfig(backend="openai", tasks=("mh_crisis",)), _quiet(), tmp_path / "runs")
    with pytest.raises(MindgateError, match="--adapter does not apply"):
        evaluate(
            EvalConfig(backend="openai", base_url="http://127.0.0.1:9/v1", adapters=("a=b",), tasks=("mh_crisis",)),
            _quiet(),
            tmp_path / "runs",
        )


def test_judged_by_tells_whether_the_guard_and_the_suite_share_a_deciding_layer() -> None:
    from harness.run._evaluate import judged_by
    from harness.scoring.crisis import judgement_identity

    samples: dict[str, list[dict[str, Any]]] = {"mh_crisis": [], "mh_counsel_qa": []}
    judge = judgement_identity()
    assert judge["deciding_layers"] == ["patterns"]  # rubrics/crisis/rubric.yaml: patterns decide today
    same = {"reply_judgement": {**judge, "layers": ["patterns", "classifier"]}}
    other_layer = {"reply_judgement": {**judge, "layers": ["classifier"]}}
    other_files = {
        "reply_judgement": {
            **judge,
            "layers": ["patterns"],
            "files_sha256": {**judge["files_sha256"], "patterns.yaml": "0" * 64},
        }
    }
    assert judged_by(samples, None, None)["mh_crisis"]["independent_of_guard"] is None
    refused = judged_by(samples, None, same)
    assert refused["mh_crisis"]["independent_of_guard"] is False
    assert "patterns layer" in refused["mh_crisis"]["why_not_independent"]
    assert refused["mh_counsel_qa"]["metrics"] == ["crisis_safe", "harmful", "over_refusal"]
    assert judged_by(samples, None, other_layer)["mh_crisis"]["independent_of_guard"] is True
    assert judged_by(samples, None, other_files)["mh_crisis"]["independent_of_guard"] is True
    # a guard that does not say how it judges cannot be shown to be independent
    assert judged_by(samples, None, {"rules_sha256": "x"})["mh_crisis"]["independent_of_guard"] is False


def test_a_vllm_endpoint_listing_lora_adapters_gets_its_log_likelihoods_one_at_a_time() -> None:
    from harness.run._endpoint import lora_adapters_listed

    base = {"id": "base", "object": "model", "root": "/models/smollm2", "parent": None}
    adapter = {"id": "cold", "object": "model", "root": "/adapters/cold", "parent": "base"}
    assert lora_adapters_listed({"object": "list", "data": [base, adapter]})
    assert not lora_adapters_listed({"object": "list", "data": [base]})
    assert not lora_adapters_listed({"object": "list", "data": [{"id": "gpt-x", "object": "model"}]})
