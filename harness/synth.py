"""Synthetic preference pairs from any OpenAI-compatible chat endpoint (``mindgate pairs synth``).

For each prompt the endpoint is asked twice, with the two instructions of
``rubrics/pairs/synth_prompts.yaml``: once for a preferred reply, once for a realistic weak one (cold,
dismissive, generic; never harmful content). The rejected text is only ever the rejected side.

- Works with vLLM (``vllm serve`` / ``make serve``), OpenAI, or any server speaking
  ``POST /v1/chat/completions``; the key, if any, is read from an environment variable named on the
  command line and never written anywhere.
- Pairs are appended to the output file as they finish, so an interrupted or failed run loses
  nothing: a rerun with the same output skips the prompts already there and retries the rest.
- A request that fails is retried (honouring 429 Retry-After), then the prompt is reported as failed
  and left out; an empty reply, or two identical replies, is a failure too.
- Each row records the served model, the endpoint (without the key), the instruction file's sha256,
  the temperature and the seed. Every pair set goes through ``mindgate curate --kind preference``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.endpoint import Endpoint, EndpointError, endpoint, v1_url
from harness.errors import DataFormatError, MindgateError
from harness.paths import RUBRICS_DIR

SYNTH_PROMPTS = RUBRICS_DIR / "pairs" / "synth_prompts.yaml"
SIDES: tuple[str, ...] = ("chosen", "rejected")


class SynthError(MindgateError):
    """The endpoint cannot be used (unreachable, does not serve the model, bad key variable)."""


@dataclass(frozen=True)
class SynthInstructions:
    systems: dict[str, str]
    sha256: str


def load_instructions(path: Path = SYNTH_PROMPTS) -> SynthInstructions:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as problem:
        raise DataFormatError(f"{path}: cannot read the synthesis instructions ({problem})") from None
    systems: dict[str, str] = {}
    for side in SIDES:
        text = (data or {}).get(side, {}).get("system") if isinstance((data or {}).get(side), dict) else None
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(f"{path}: field {side}.system must be a non-empty text")
        systems[side] = text.strip()
    return SynthInstructions(systems, hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass(frozen=True)
class SynthConfig:
    base_url: str  # http://host:port/v1
    model: str
    api_key_env: str | None = None
    temperature: float = 0.7
    max_tokens: int = 320
    seed: int = 0
    concurrency: int = 4
    timeout_s: float = 120.0
    max_retries: int = 3

    def client(self) -> Endpoint:
        """The HTTP client (retry policy: ``harness.endpoint``); a missing key variable is named."""
        try:
            client = endpoint(self.base_url, self.api_key_env, self.timeout_s, self.max_retries, max_wait_s=30.0)
            client.api_key()
        except EndpointError as problem:
            raise SynthError(f"--api-key-env / --base-url: {problem}") from None
        return client

    def record(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }


def normalise_v1(url: str) -> str:
    try:
        return v1_url(url)
    except EndpointError as problem:
        raise SynthError(str(problem)) from None


@dataclass
class SynthOutcome:
    written: int = 0
    already_done: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class PairSynthesiser:
    def __init__(self, config: SynthConfig, instructions: SynthInstructions | None = None) -> None:
        self.config = SynthConfig(**{**vars(config), "base_url": normalise_v1(config.base_url)})
        self.instructions = instructions or load_instructions()
        self.client = self.config.client()
        self.sent = 0

    def check_endpoint(self) -> None:
        """Refuse early when the endpoint is unreachable or does not serve the model."""
        try:
            self.client.served(self.config.model, flag="--model")
        except EndpointError as problem:
            raise SynthError(f"{problem}; start the server (for example `make serve`) or check --base-url") from None

    def _complete(self, side: str, prompt: str) -> str:
        body = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": self.instructions.systems[side]},
                {"role": "user", "content": prompt},
            ],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "seed": self.config.seed,
        }
        try:
            choice = self.client.chat(body, on_attempt=self._count)
        except EndpointError as problem:
            raise SynthError(str(problem)) from None
        message = choice.get("message") or {}
        text = (message.get("content") if isinstance(message, dict) else None) or ""
        return " ".join(text.split()) if "\n\n" not in text else text.strip()

    def _count(self) -> None:
        self.sent += 1

    def pair(self, name: str, prompt: str) -> dict[str, Any]:
        chosen = self._complete("chosen", prompt)
        rejected = self._complete("rejected", prompt)
        if not chosen.strip() or not rejected.strip():
            raise SynthError("the endpoint returned an empty reply")
        if chosen.strip() == rejected.strip():
            raise SynthError("the two replies are identical")
        return {
            "id": name,
            "prompt": prompt,
            "chosen": chosen,
            "rejected": rejected,
            "source": f"synth:{self.config.model}",
            "licence": "generated text; the endpoint provider's terms apply",
            "synth": {**self.config.record(), "instructions_sha256": self.instructions.sha256},
        }

    def run(
        self,
        prompts: Sequence[tuple[str, str]],
        out: Path,
        on_done: Callable[[int, int], None] | None = None,
    ) -> SynthOutcome:
        """Write a pair per prompt to ``out`` (appending), skipping prompts already in it."""
        outcome = SynthOutcome()
        done = _names_in(out)
        todo = [(name, prompt) for name, prompt in prompts if name not in done]
        outcome.already_done = len(prompts) - len(todo)
        if not todo:
            return outcome
        self.check_endpoint()
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = threading.Lock()
        with out.open("a", encoding="utf-8") as handle, ThreadPoolExecutor(self.config.concurrency) as pool:
            futures = {pool.submit(self.pair, name, prompt): name for name, prompt in todo}
            for finished, future in enumerate(as_completed(futures), start=1):
                name = futures[future]
                try:
                    row = future.result()
                except SynthError as problem:
                    outcome.failed[name] = str(problem)
                else:
                    with lock:
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                        handle.flush()
                    outcome.written += 1
                if on_done is not None:
                    on_done(finished, len(todo))
        return outcome


def _names_in(out: Path) -> set[str]:
    """Ids of the pairs already written; a torn last line (a killed run) is dropped and rewritten."""
    if not out.is_file():
        return set()
    names: set[str] = set()
    good: list[str] = []
    torn = False
    lines = out.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            names.add(str(row["id"]))
            good.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            if number < len(lines):
                raise DataFormatError(
                    f"{out}, line {number}: not a pair written by `mindgate pairs synth`; "
                    "give another --out or remove the line"
                ) from None
            torn = True
    if torn:
        out.write_text("".join(line + "\n" for line in good), encoding="utf-8")
    return names
