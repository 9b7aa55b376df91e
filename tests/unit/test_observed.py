"""ObservedLM forwards to the model it wraps and keeps lm-eval's request cache working: every
answer still reaches the cache (an interrupted run resumes), and the listener hears of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM, CachingLM

from harness.backends import ObservedLM
from harness.backends._observed import request_key


class _CountingLM(LM):
    """Answers from the text alone, reporting each answer to its cache hook as lm-eval's models do."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        answers = []
        for request in requests:
            self.seen.append(request.args)
            answer = (-float(len(request.args[1])), False)
            self.cache_hook.add_partial("loglikelihood", request.args, answer)
            answers.append(answer)
        return answers

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        return [0.0 for _ in requests]

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        answers = []
        for request in requests:
            self.seen.append(request.args)
            self.cache_hook.add_partial("generate_until", request.args, request.args[0].upper())
            answers.append(request.args[0].upper())
        return answers

    @property
    def tokenizer_name(self) -> str:
        return "counting"


class _Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def calling(self, kind: str, requests: Any) -> None:
        self.events.append(("calling", (kind, len(requests))))

    def finished(self, kind: str, key: str) -> None:
        self.events.append(("finished", key))

    def returned(self, kind: str, seconds: float) -> None:
        self.events.append(("returned", kind))


def _requests(kind: str, args: list[tuple[Any, ...]]) -> list[Instance]:
    return [Instance(kind, {}, arguments, index, ("task", index, 1)) for index, arguments in enumerate(args)]


def test_answers_reach_the_request_cache_and_the_listener(tmp_path: Path) -> None:
    inner, listener = _CountingLM(), _Listener()
    args = [("ctx", " a"), ("ctx", " bb")]
    cached = CachingLM(ObservedLM(inner, listener), str(tmp_path / "cache.db"))
    assert cached.loglikelihood(_requests("loglikelihood", args)) == [(-2.0, False), (-3.0, False)]
    assert listener.events == [
        ("calling", ("loglikelihood", 2)),
        ("finished", request_key("loglikelihood", args[0])),
        ("finished", request_key("loglikelihood", args[1])),
        ("returned", "loglikelihood"),
    ]
    # a second run (a new wrapper, the same cache file) gets both answers without asking the model
    again_inner, again_listener = _CountingLM(), _Listener()
    again = CachingLM(ObservedLM(again_inner, again_listener), str(tmp_path / "cache.db"))
    assert again.loglikelihood(_requests("loglikelihood", args)) == [(-2.0, False), (-3.0, False)]
    assert again_inner.seen == [] and again_listener.events == []


def test_without_a_request_cache_a_reused_model_writes_nowhere_old(tmp_path: Path) -> None:
    inner = _CountingLM()
    CachingLM(ObservedLM(inner, _Listener()), str(tmp_path / "first.db"))
    listener = _Listener()
    observed = ObservedLM(inner, listener)  # the same model object in a later call, no cache this time
    assert observed.generate_until(_requests("generate_until", [("hi", {})])) == ["HI"]
    assert inner.cache_hook.dbdict is None
    assert [event for event, _ in listener.events] == ["calling", "finished", "returned"]


def test_everything_else_is_the_wrapped_models() -> None:
    inner = _CountingLM()
    observed = ObservedLM(inner, _Listener())
    assert observed.tokenizer_name == "counting"
    assert observed.rank == 0 and observed.world_size == 1
    assert observed.seen is inner.seen
