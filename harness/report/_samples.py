"""The worst-scoring samples of a task, with what the model said and why the scorer judged so.

Reads the per-sample rows exactly as ``samples/<task>.jsonl`` stores them: generation tasks keep
the replies in ``filtered_resps`` and the scorer's judgement under ``judgement`` (explanation,
answer, rubric items, phrases, per-reply toxicity and stigma); likelihood tasks keep one
(log-likelihood, is-greedy) pair per option, so the model's answer is the most likely option.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.metrics import EVIDENCE_METRICS
from harness.store import StoredRun, is_number

MAX_TEXT = 2000  # characters of one prompt or reply shown; the run directory keeps the rest
_PROMPT_FIELDS = ("text", "question", "vignette", "prompt", "input")


@dataclass(frozen=True)
class SampleView:
    """One sample as the report shows it; every string is raw text, escaped when rendered."""

    item: str
    metric: str
    value: float
    scores: tuple[tuple[str, float], ...]  # every numeric per-item metric of the row
    prompt: str | None
    replies: tuple[str, ...]
    reply_kind: str  # "reply", "replies" or "chosen option"
    target: str | None
    evidence: tuple[tuple[str, str], ...]  # (label, text): the scorer's explanation and findings


def sample_metric(run: StoredRun, task: str, main_metric: str | None) -> str | None:
    """The metric samples are ranked by: the task's main metric when its per-item values are
    numbers, else the first metric that has numbers (record metrics are not per-item scores)."""
    candidates = [main_metric] if main_metric else []
    for row in run.samples[task][:50]:
        candidates += [name for name in row.get("metrics") or () if name not in EVIDENCE_METRICS]
    for name in dict.fromkeys(candidates):
        if any(is_number(row.get(name)) for row in run.samples[task]):
            return name
    return None


def worst_samples(
    run: StoredRun, task: str, metric: str, higher_is_better: bool | None, count: int
) -> list[SampleView]:
    """The ``count`` samples with the worst ``metric`` value (lowest when higher is better),
    file order among ties; items outside the metric's denominator (None) are left out."""
    scored = [(index, row) for index, row in enumerate(run.samples[task]) if is_number(row.get(metric))]
    sign = 1.0 if higher_is_better is not False else -1.0
    scored.sort(key=lambda pair: (sign * float(pair[1][metric]), pair[0]))
    return [_view(row, metric) for _, row in scored[:count]]


def _view(row: Mapping[str, Any], metric: str) -> SampleView:
    replies, kind, target = _answer(row)
    return SampleView(
        item=_item_label(row),
        metric=metric,
        value=float(row[metric]),
        scores=tuple(
            (name, float(row[name]))
            for name in row.get("metrics") or ()
            if name not in EVIDENCE_METRICS and is_number(row.get(name))
        ),
        prompt=_prompt(row.get("doc")),
        replies=tuple(_clip(reply) for reply in replies),
        reply_kind=kind,
        target=target,
        evidence=tuple(_evidence(row)),
    )


def _item_label(row: Mapping[str, Any]) -> str:
    doc = row.get("doc")
    if isinstance(doc, Mapping):
        for name in ("id", "item_id"):
            if doc.get(name) not in (None, ""):
                return str(doc[name])
    return str(row.get("doc_hash") or row.get("doc_id") or "?")[:16]


def _prompt(doc: Any) -> str | None:
    if not isinstance(doc, Mapping):
        return None
    for name in _PROMPT_FIELDS:
        if isinstance(doc.get(name), str):
            text = doc[name]
            choices = doc.get("choices")
            if isinstance(choices, Sequence) and not isinstance(choices, str):
                text += "\n" + "\n".join(f"({chr(65 + i)}) {choice}" for i, choice in enumerate(choices))
            return _clip(text)
    return None


def _answer(row: Mapping[str, Any]) -> tuple[list[str], str, str | None]:
    """(what the model answered, what kind of answer it is, the expected answer if any)."""
    responses = row.get("filtered_resps")
    texts = list(_strings(responses))
    if texts:
        return texts, "reply" if len(texts) == 1 else "replies", None
    options = _options(row)
    if not options or not isinstance(responses, list):
        return [], "reply", None
    likelihoods = [_loglikelihood(response) for response in responses]
    target = row.get("target")
    expected = options[target] if isinstance(target, int) and 0 <= target < len(options) else None
    if len(likelihoods) != len(options) or any(value is None for value in likelihoods):
        return [], "chosen option", expected
    best = max(range(len(options)), key=lambda i: likelihoods[i] or 0.0)
    return [options[best]], "chosen option", expected


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _options(row: Mapping[str, Any]) -> list[str]:
    arguments = row.get("arguments")
    if not isinstance(arguments, list):
        return []
    return [str(pair[1]) for pair in arguments if isinstance(pair, list) and len(pair) >= 2]


def _loglikelihood(response: Any) -> float | None:
    # lm-eval stores [loglikelihood, is_greedy], sometimes wrapped in one more list
    while isinstance(response, list) and response and isinstance(response[0], list):
        response = response[0]
    if isinstance(response, list) and response and is_number(response[0]):
        return float(response[0])
    return None


def _evidence(row: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    judgement = row.get("judgement")
    if isinstance(judgement, Mapping):
        yield from _judgement_evidence(judgement)
    seen: set[str] = set()
    for name in row.get("metrics") or ():
        record = row.get(name)
        if name in EVIDENCE_METRICS or not isinstance(record, Mapping):
            continue
        text = "; ".join(f"{key}: {value}" for key, value in record.items() if _is_scalar(value))
        if text and text not in seen:  # record metrics of one item often log the same record
            seen.add(text)
            yield (f"{name} record", text)


def _judgement_evidence(judgement: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for name in ("answer", "explanation"):
        if _is_scalar(judgement.get(name)) and judgement.get(name) not in (None, ""):
            yield (name, str(judgement[name]))
    metadata = judgement.get("metadata")
    if isinstance(metadata, Mapping):
        if metadata.get("failed_items"):
            yield ("failed rubric items", ", ".join(map(str, metadata["failed_items"])))
        phrases = metadata.get("matched_phrases")
        if isinstance(phrases, Mapping) and phrases:
            yield ("matched phrases", "; ".join(f"{group}: {_quoted(found)}" for group, found in phrases.items()))
    for index, sample in enumerate(judgement.get("samples") or (), start=1):
        if not isinstance(sample, Mapping):
            continue
        for scorer, verdict in sample.items():
            if isinstance(verdict, Mapping) and verdict.get("explanation"):
                yield (f"reply {index} {scorer}", str(verdict["explanation"]))


def _quoted(found: Any) -> str:
    if isinstance(found, list):
        return ", ".join(f'"{item}"' for item in found)
    return str(found)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" … [{len(text) - MAX_TEXT} more characters]"
