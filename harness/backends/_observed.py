"""An lm-eval model that reports what it does: each request finished, and how long each kind took.

``ObservedLM`` wraps any lm-eval ``LM`` (the in-process hf model, the served completions client)
and forwards everything to it. lm-eval hands a model all requests of one kind in one call, after
its request cache has removed those it already has, and every model it ships reports each
finished request to its cache hook; the wrapper listens there, so it sees requests finish one by
one (or batch by batch) without changing how they are computed.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from lm_eval.api.model import LM, CacheHook, hash_args

REQUEST_KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until")


class RequestListener(Protocol):
    def calling(self, kind: str, requests: Sequence[Any]) -> None:
        """lm-eval asks the model for ``requests`` (Instances of one kind, not found in its cache)."""

    def finished(self, kind: str, key: str) -> None:
        """One request is answered; ``key`` is lm-eval's cache key of its arguments."""

    def returned(self, kind: str, seconds: float) -> None:
        """The call for ``kind`` returned after ``seconds``."""


def request_key(kind: str, arguments: Iterable[Any]) -> str:
    """The key lm-eval's request cache gives a request: the same for its Instance and its answer."""
    return hash_args(kind, arguments)


class _ListeningHook(CacheHook):
    """Passes each finished request to the cache hook lm-eval set (if any), then to the listener."""

    def __init__(self, inner: CacheHook, listener: RequestListener) -> None:
        self.inner = inner
        self.listener = listener
        self.dbdict = getattr(inner, "dbdict", None)

    def add_partial(self, attr: str, req: Iterable[Any], res: Any) -> None:
        self.inner.add_partial(attr, req, res)
        self.listener.finished(attr, request_key(attr, req))


class ObservedLM(LM):
    """``inner``, with every request reported to ``listener``."""

    def __init__(self, inner: LM, listener: RequestListener) -> None:
        super().__init__()
        self.inner = inner
        self.listener = listener
        # A fresh hook, never the model's current one: a model reused from an earlier call still
        # holds that call's request cache, which this call must not write to unless lm-eval asks.
        inner.set_cache_hook(_ListeningHook(CacheHook(None), listener))

    def set_cache_hook(self, cache_hook: CacheHook) -> None:
        # lm-eval's request cache installs its hook on the model it wraps, which is this object
        self.inner.set_cache_hook(_ListeningHook(cache_hook, self.listener))

    def _call(self, kind: str, requests: list[Any], disable_tqdm: bool) -> list[Any]:
        method: Callable[..., list[Any]] = getattr(self.inner, kind)
        self.listener.calling(kind, requests)
        started = time.monotonic()
        try:
            if "disable_tqdm" in inspect.signature(method).parameters:
                return list(method(requests, disable_tqdm=disable_tqdm))
            return list(method(requests))
        finally:
            self.listener.returned(kind, time.monotonic() - started)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = True) -> list[Any]:
        return self._call("loglikelihood", requests, disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = True) -> list[Any]:
        return self._call("loglikelihood_rolling", requests, disable_tqdm)

    def generate_until(self, requests: list[Any], disable_tqdm: bool = True) -> list[Any]:
        return self._call("generate_until", requests, disable_tqdm)

    # Everything lm-eval reads from a model is the wrapped model's.
    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> Any:
        # Passed on unchanged: lm-eval's chat-completions models return a JsonChatStr (the messages
        # as JSON), which they recognise by its type when the request comes back; str() of it
        # would send its repr as a plain-text prompt.
        return self.inner.apply_chat_template(chat_history, add_generation_prompt=add_generation_prompt)

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        template: str | None = self.inner.chat_template(chat_template)
        return template

    @property
    def tokenizer_name(self) -> str:
        return str(self.inner.tokenizer_name)

    @property
    def device(self) -> Any:
        return self.inner.device

    @property
    def rank(self) -> int:
        return int(self.inner.rank)

    @property
    def world_size(self) -> int:
        return int(self.inner.world_size)

    def all_gather(self, tensor: Any) -> Any:
        return self.inner.all_gather(tensor)

    def gather_object(self, obj: Any, dst: int = 0) -> Any:
        return self.inner.gather_object(obj, dst)

    def barrier(self) -> None:
        self.inner.barrier()

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes this class lacks (tokenizer, max_length, get_model_info, ...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
