"""An lm-eval model for any OpenAI-compatible chat endpoint (``mindgate eval --backend openai``).

Generation requests go to ``POST /v1/chat/completions`` as the chat messages lm-eval built (the
endpoint applies its own template), ``concurrency`` at a time, with the retry policy of
``harness.endpoint``. Log-likelihood requests need the prompt's log-probabilities, which chat
completions do not return: they go to ``POST /v1/completions`` with ``echo`` (lm-eval's
completions client), rendered with the served model's chat template by a local tokenizer, and only
when the endpoint was found to return them (see ``harness.run._endpoint``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lm_eval.api.model import LM, CacheHook

from harness.endpoint import Endpoint, EndpointError, first_choice

MAX_STOP_SEQUENCES = 4  # OpenAI's limit


def chat_messages(context: Any) -> tuple[list[dict[str, Any]], bool]:
    """The messages of a request built with a chat template (lm-eval passes them as the JSON that
    ``ChatCompletionsLM.apply_chat_template`` wrote), and whether the last one is an assistant
    message to continue rather than a turn to answer."""
    text = getattr(context, "prompt", context)
    try:
        decoded = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        decoded = None
    continue_final = isinstance(decoded, dict) and bool(decoded.get("continue_final_message"))
    messages = decoded.get("messages") if isinstance(decoded, dict) else decoded
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise EndpointError(
            "the openai backend sends chat messages, but this request is plain text: run with the chat "
            f"template on (the default; drop --no-apply-chat-template). Request starts: {str(text)[:120]!r}"
        )
    return messages, continue_final


def chat_body(context: Any, model: str, gen_kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    """The chat-completions request for one lm-eval generation request."""
    messages, continue_final = chat_messages(context)
    kwargs = dict(gen_kwargs or {})
    until = kwargs.pop("until", None) or []
    stops = [until] if isinstance(until, str) else [s for s in until if isinstance(s, str) and s]
    sampled = bool(kwargs.pop("do_sample", False))
    temperature = float(kwargs.pop("temperature", 0.0)) if sampled else 0.0
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": int(kwargs.pop("max_gen_toks", kwargs.pop("max_tokens", 256))),
        "temperature": temperature,
        "seed": seed,
    }
    if sampled and "top_p" in kwargs:
        body["top_p"] = float(kwargs["top_p"])
    if stops:
        body["stop"] = stops[:MAX_STOP_SEQUENCES]
    if continue_final:  # vLLM's extension; an endpoint without it answers the turn instead
        body["continue_final_message"], body["add_generation_prompt"] = True, False
    return body


class ChatCompletionsLM(LM):
    """Generation through chat completions; log-likelihoods through ``loglikelihood_lm`` if given."""

    def __init__(
        self,
        endpoint: Endpoint,
        model: str,
        concurrency: int = 8,
        seed: int = 1234,
        loglikelihood_lm: Any = None,
        chat_template: Any = None,
    ) -> None:
        super().__init__()
        if concurrency < 1:
            raise EndpointError(f"--concurrency {concurrency}: at least one request must be in flight")
        self.endpoint = endpoint
        self.model = model
        self.concurrency = concurrency
        self.seed = seed
        self.loglikelihood_lm = loglikelihood_lm
        self._template_tokenizer = chat_template  # a tokenizer with the served model's chat template
        self.finish_reasons: Counter[str] = Counter()
        self.requests_sent = 0

    # lm-eval builds chat requests through these
    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if add_generation_prompt:
            return json.dumps(chat_history, ensure_ascii=False)
        return json.dumps({"messages": chat_history, "continue_final_message": True}, ensure_ascii=False)

    def chat_template(self, chat_template: bool | str = False) -> str:
        return ""

    @property
    def tokenizer_name(self) -> str:
        return f"openai-chat:{self.model}"

    def generate_until(self, requests: list[Any], disable_tqdm: bool = True) -> list[str]:
        if not requests:
            return []
        self.requests_sent += len(requests)
        return asyncio.run(self._generate_all(requests))

    async def _generate_all(self, requests: Sequence[Any]) -> list[str]:
        import httpx

        bodies = [chat_body(r.args[0], self.model, r.args[1], self.seed) for r in requests]
        answers: list[str] = [""] * len(requests)
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(limits=limits) as client:

            async def one(index: int) -> None:
                async with gate:
                    answer = await self.endpoint.arequest(client, "/chat/completions", bodies[index])
                choice = first_choice(self.endpoint.base_url, answer)
                message = choice.get("message") or {}
                text = message.get("content") if isinstance(message, dict) else None
                self.finish_reasons[str(choice.get("finish_reason"))] += 1
                answers[index] = text if isinstance(text, str) else ""
                self.cache_hook.add_partial("generate_until", requests[index].args, answers[index])

            jobs = [asyncio.create_task(one(index)) for index in range(len(requests))]
            try:
                await asyncio.gather(*jobs)
            except BaseException:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
                raise
        return answers

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = True) -> list[tuple[float, bool]]:
        if self.loglikelihood_lm is None:
            raise EndpointError(
                f"{self.endpoint.base_url}: log-likelihood requests cannot be scored through this endpoint "
                "(it was not found to return prompt log-probabilities, or no --tokenizer was given)"
            )
        from lm_eval.api.instance import Instance

        self.requests_sent += len(requests)
        rendered = [
            Instance(
                request_type=r.request_type,
                doc=r.doc,
                arguments=(self._render(r.args[0]), *r.args[1:]),
                idx=r.idx,
                metadata=r.metadata,
            )
            for r in requests
        ]
        self.loglikelihood_lm.set_cache_hook(CacheHook(None))
        results: list[tuple[float, bool]] = self.loglikelihood_lm.loglikelihood(rendered, disable_tqdm=True)
        for request, result in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def _render(self, context: Any) -> str:
        """A chat request's messages as the served model's template writes them (the text the
        model reads before the answer options)."""
        messages, continue_final = chat_messages(context)
        text: str = self._template_tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=not continue_final,
            continue_final_message=continue_final,
        )
        return text

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = True) -> list[float]:
        raise EndpointError("rolling log-likelihood (perplexity) tasks are not supported by the openai backend")
