"""The optional LLM-judge layer of the crisis judgement: any OpenAI-compatible chat endpoint.

Each judge answers one yes/no question per rubric item (``rubrics/crisis/judge_prompts.yaml``) at
temperature 0. Answers are cached in SQLite (``$MINDGATE_HOME/judge-cache.sqlite``) by served model
id, prompt-file hash, item, message and reply, so a rerun sends nothing already answered. A
request that fails is retried a bounded number of times (honouring 429 Retry-After), then recorded
as an error, never as a "no". Several judges are reported side by side and never averaged.

Judges are configured in a YAML file (``mindgate eval --judges FILE``)::

    judges:
      - name: local-smollm2          # shown in reports
        base_url: http://127.0.0.1:8000/v1
        model: smollm2-135m-instruct # the served model name
        api_key_env: null            # or the NAME of an environment variable holding the key
        concurrency: 4
        timeout_s: 60
        max_retries: 3
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.endpoint import Endpoint, EndpointError, endpoint
from harness.errors import MindgateError
from harness.paths import RUBRICS_DIR
from harness.scoring._judge_cache import JudgeCache
from harness.scoring._rubric_files import RubricFileError, load_yaml_mapping, require

PROMPTS_FILE = RUBRICS_DIR / "crisis" / "judge_prompts.yaml"
JUDGE_ITEMS: tuple[str, ...] = (
    "harmful",
    "dismissive",
    "acknowledges",
    "refers_crisis",
    "refers_professional",
    "over_refusal",
    "asks_about_risk",
)
_ANSWER = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


class JudgeError(MindgateError):
    """A judge endpoint that cannot be reached or does not serve the configured model."""


@dataclass(frozen=True)
class JudgeEndpoint:
    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 3
    max_tokens: int = 48

    def client(self) -> Endpoint:
        """The HTTP client (its retry policy is ``harness.endpoint``'s); a missing key variable is named."""
        client = endpoint(self.base_url, self.api_key_env, self.timeout_s, max(1, self.max_retries), max_wait_s=30.0)
        try:
            client.api_key()
        except EndpointError as problem:
            raise JudgeError(f"judge {self.name!r}: {problem}") from None
        return client

    def as_record(self) -> dict[str, Any]:
        """What a run record keeps: never the key itself."""
        return {"name": self.name, "base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env}


@dataclass(frozen=True)
class JudgePrompts:
    system: str
    template: str
    questions: Mapping[str, str]
    sha256: str

    def render(self, item: str, message: str, reply: str) -> str:
        return self.template.format(message=message, reply=reply, question=self.questions[item])


@dataclass(frozen=True)
class JudgeAnswer:
    answer: bool | None  # None: the judge failed or gave no YES/NO
    status: str  # ok | unparsed | error
    reason: str = ""

    def as_record(self) -> dict[str, Any]:
        return {"answer": self.answer, "status": self.status, "reason": self.reason}


def parse_answer(text: str) -> JudgeAnswer:
    match = _ANSWER.match(text.strip())
    if not match:
        return JudgeAnswer(None, "unparsed", text.strip()[:200])
    return JudgeAnswer(match.group(1).lower() == "yes", "ok", text.strip()[match.end() :].strip(" .:-\n")[:200])


def load_prompts(path: Path = PROMPTS_FILE) -> JudgePrompts:
    data = load_yaml_mapping(path)
    items = require(data, "items", dict, path, "")
    missing = [item for item in JUDGE_ITEMS if item not in items]
    if missing:
        raise RubricFileError(path, "items", f"missing prompts for: {', '.join(missing)}")
    return JudgePrompts(
        system=require(data, "system", str, path, ""),
        template=require(data, "template", str, path, ""),
        questions={item: str(items[item]) for item in JUDGE_ITEMS},
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def load_judges(path: Path) -> list[JudgeEndpoint]:
    """Read and check a judges file; every problem names the file and the field."""
    data = load_yaml_mapping(path)
    raw = require(data, "judges", list, path, "")
    if not raw:
        raise RubricFileError(path, "judges", "must list at least one judge")
    judges, names = [], set()
    for index, entry in enumerate(raw):
        where = f"judges[{index}]"
        if not isinstance(entry, dict):
            raise RubricFileError(path, where, "must be a mapping with name, base_url, model")
        known = set(JudgeEndpoint.__dataclass_fields__)
        unknown = sorted(set(entry) - known)
        if unknown:
            raise RubricFileError(path, f"{where}.{unknown[0]}", f"unknown field; known: {', '.join(sorted(known))}")
        name = require(entry, "name", str, path, where)
        if name in names:
            raise RubricFileError(path, f"{where}.name", f"duplicate judge name {name!r}")
        names.add(name)
        base_url = require(entry, "base_url", str, path, where)
        if not base_url.startswith(("http://", "https://")):
            raise RubricFileError(path, f"{where}.base_url", "must start with http:// or https://")
        judges.append(JudgeEndpoint(**{**entry, "base_url": base_url.rstrip("/")}))
    return judges


@dataclass
class LLMJudge:
    endpoint: JudgeEndpoint
    prompts: JudgePrompts
    cache: JudgeCache
    served_model: str = ""
    sent: int = field(default=0)

    def connect(self) -> None:
        """Ask the endpoint which models it serves; refuse to judge with one it does not serve."""
        try:
            listing = self.endpoint.client().listing()
        except EndpointError as problem:
            raise JudgeError(
                f"judge {self.endpoint.name!r}: cannot list models at {self.endpoint.base_url}/models ({problem}); "
                "check base_url (it ends in /v1 for vLLM and OpenAI) and that the server is running"
            ) from None
        served = [entry.get("id") for entry in listing["data"] if isinstance(entry, dict)]
        if self.endpoint.model not in served:
            raise JudgeError(f"judge {self.endpoint.name!r}: {self.endpoint.model!r} is not served; served: {served}")
        self.served_model = self.endpoint.model

    def identity(self) -> dict[str, Any]:
        return {**self.endpoint.as_record(), "served_model": self.served_model, "prompts_sha256": self.prompts.sha256}

    def _ask(self, item: str, message: str, reply: str) -> JudgeAnswer:
        key = self.cache.key(self.served_model, self.prompts.sha256, item, message, reply)
        cached = self.cache.get(key)
        if cached is not None:
            return parse_answer(cached)
        text = self._complete(self.prompts.render(item, message, reply))
        if text is None:
            return JudgeAnswer(None, "error", f"no answer after {self.endpoint.max_retries} attempts")
        self.cache.put(key, text)
        return parse_answer(text)

    def _complete(self, prompt: str) -> str | None:
        body = {
            "model": self.endpoint.model,
            "messages": [{"role": "system", "content": self.prompts.system}, {"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": self.endpoint.max_tokens,
        }
        try:
            choice = self.endpoint.client().chat(body, on_attempt=self._count)
        except EndpointError:
            return None  # recorded as an error by the caller, never as a "no"
        message = choice.get("message") or {}
        return str(message.get("content") or "") if isinstance(message, dict) else ""

    def _count(self) -> None:
        self.sent += 1

    def judge_many(
        self, pairs: Sequence[tuple[str, str]], items: Sequence[str] = JUDGE_ITEMS
    ) -> list[dict[str, JudgeAnswer]]:
        jobs = [(index, item) for index in range(len(pairs)) for item in items]
        with ThreadPoolExecutor(max_workers=self.endpoint.concurrency) as pool:
            answers = list(pool.map(lambda job: self._ask(job[1], *pairs[job[0]]), jobs))
        results: list[dict[str, JudgeAnswer]] = [{} for _ in pairs]
        for (index, item), answer in zip(jobs, answers, strict=True):
            results[index][item] = answer
        return results


def open_judges(config_path: Path) -> list[LLMJudge]:
    prompts = load_prompts()
    cache = JudgeCache.default()
    judges = [LLMJudge(endpoint, prompts, cache) for endpoint in load_judges(config_path)]
    for judge in judges:
        judge.connect()
    return judges
