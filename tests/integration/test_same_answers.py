"""The fast hf path gives the answers lm-eval's own hf model gives, on real items of every kind of
task in the suite: clinical MCQ (three sources, multi-token options), DSM-5 diagnosis (19 letter
options after a long vignette), DSM-5 meets (Yes/No, sharing the vignette with the diagnosis
prompt), and greedy generation in other batches than lm-eval's.

Same answers means: per request, log-likelihoods within 1e-4 and the same ``is_greedy``; per
item, the same chosen option; greedy text byte for byte.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.paths import TASKS_DIR

pytestmark = pytest.mark.integration

TOLERANCE = 1e-4
MCQ = ("mh_mmlu_professional_psychology", "mh_mmlu_high_school_psychology", "mh_medqa_psychiatry")
DSM5 = ("mh_dsm5_diagnosis", "mh_dsm5_meets")


@pytest.fixture(scope="module")
def models(default_model_dir: Path) -> tuple[Any, Any]:
    from lm_eval.models.huggingface import HFLM

    from harness.backends import SharedPrefixHFLM

    plain = HFLM(pretrained=str(default_model_dir), dtype="float32", device="cpu", batch_size=2)
    # the same weights object: two loads would double memory, and the comparison is of the scoring
    fast = SharedPrefixHFLM(
        pretrained=plain.model, tokenizer=plain.tokenizer, device="cpu", batch_size=16, generation_batch_size=6
    )
    assert fast.trie_path_available()
    return plain, fast


def _requests(lm: Any, tasks: tuple[str, ...], limit: int) -> list[Any]:
    from lm_eval.tasks import TaskManager

    loaded = TaskManager(include_path=str(TASKS_DIR), include_defaults=False).load(list(tasks))
    requests: list[Any] = []
    for name in tasks:
        task = loaded["tasks"][name]
        task.build_all_requests(
            limit=limit,
            apply_chat_template=True,
            chat_template=lm.apply_chat_template,
            tokenizer_name=lm.tokenizer_name,
        )
        for instance in task.instances:
            requests.extend([instance] * instance.repeats)
    return requests


def _chosen(requests: list[Any], answers: list[tuple[float, bool]]) -> dict[tuple[str, int], int]:
    by_item: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    for request, (loglikelihood, _) in zip(requests, answers, strict=True):
        by_item[(request.task_name, request.doc_id)].append((request.idx, loglikelihood))
    return {item: max(options, key=lambda option: option[1])[0] for item, options in by_item.items()}


# Most token positions lm-eval's path computes that the fast path does not: the clinical MCQ's
# options share their question; the DSM-5 prompts share their vignette (lm-eval already shares a
# context between one-token options).
@pytest.mark.parametrize(
    ("tasks", "limit", "token_share"), [(MCQ, 3, 0.5), (DSM5, 3, 0.85)], ids=["clinical-mcq", "dsm5"]
)
def test_log_likelihoods_equal_lm_evals(
    models: tuple[Any, Any], tasks: tuple[str, ...], limit: int, token_share: float
) -> None:
    plain, fast = models
    requests = _requests(plain, tasks, limit)
    assert {request.task_name for request in requests} == set(tasks)
    if "mh_dsm5_diagnosis" in tasks:
        assert len([r for r in requests if r.doc_id == 0 and r.task_name == "mh_dsm5_diagnosis"]) == 19
    with _counting_tokens(plain.model) as plain_tokens:
        theirs = plain.loglikelihood(requests, disable_tqdm=True)
    with _counting_tokens(fast.model) as fast_tokens:
        ours = fast.loglikelihood(requests, disable_tqdm=True)
    gaps = [abs(a[0] - b[0]) for a, b in zip(ours, theirs, strict=True)]
    assert max(gaps) <= TOLERANCE, f"largest log-likelihood gap {max(gaps):.2e}"
    assert [a[1] for a in ours] == [b[1] for b in theirs]  # is_greedy
    assert _chosen(requests, ours) == _chosen(requests, theirs)
    # the point of it: shared prefixes were computed once (padding included on both sides)
    assert fast_tokens[0] < token_share * plain_tokens[0], (fast_tokens, plain_tokens)


@contextlib.contextmanager
def _counting_tokens(model: Any) -> Iterator[list[int]]:
    """Token positions (padding included) the model's input embedding is asked for."""
    counted = [0]

    def count(module: Any, inputs: tuple[Any, ...]) -> None:
        counted[0] += int(inputs[0].numel())

    handle = model.get_input_embeddings().register_forward_pre_hook(count)
    try:
        yield counted
    finally:
        handle.remove()


@pytest.mark.slow  # minutes here: `make test-slow` (make test stays under 20 min)
def test_greedy_generation_equals_lm_evals_byte_for_byte(models: tuple[Any, Any]) -> None:
    plain, fast = models
    requests = _requests(plain, ("mh_crisis",), 6)
    assert all(not request.args[1].get("do_sample") for request in requests)
    # lm-eval in batches of 2, the fast path in one batch of 6: other padding, other batch shapes
    assert plain.generate_until(requests, disable_tqdm=True) == fast.generate_until(requests, disable_tqdm=True)
