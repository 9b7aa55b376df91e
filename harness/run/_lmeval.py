"""The one place that calls lm-eval."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path
from typing import Any

from harness.models import ResolvedAdapter, ResolvedModel
from harness.paths import request_cache_dir
from harness.run._config import EvalConfig


def request_cache_path(config: EvalConfig, model: ResolvedModel, adapter: ResolvedAdapter | None) -> Path:
    """lm-eval keys cached requests by prompt only, so the file itself must pin down everything
    else that determines an answer: backend, weights, adapter, dtype and library versions."""
    identity = "\n".join(
        [
            config.backend,
            *_backend_identity(config),
            model.content_hash,
            adapter.content_hash if adapter else "no-adapter",
            config.dtype,
            str(config.apply_chat_template),
            importlib.metadata.version("lm_eval"),
            importlib.metadata.version("transformers"),
            importlib.metadata.version("torch"),
        ]
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:24]
    return request_cache_dir() / key


def _backend_identity(config: EvalConfig) -> list[str]:
    if config.backend != "vllm":
        return []
    from harness.backends import vllm_version

    server_version = vllm_version() or "vllm-not-installed-here"
    # The served weights are pinned by the content hashes above, which the canary checks against
    # what the server actually answers; the server's address is not part of the identity, so a run
    # interrupted on one server resumes on another serving the same weights.
    return [server_version, str(config.max_model_len)]


def run_lm_eval(
    config: EvalConfig,
    model: ResolvedModel,
    adapter: ResolvedAdapter | None,
    task_manager: Any,
    lm: Any = None,
    samples: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """``lm``: an lm-eval LM object to use instead of the in-process hf model (the vllm backend).
    ``samples``: task -> document indices to evaluate (ascending), instead of ``config.limit``."""
    from lm_eval import simple_evaluate

    model_args: dict[str, Any] = {"pretrained": str(model.path), "dtype": config.dtype}
    if adapter is not None:
        model_args["peft"] = str(adapter.path)
    cache: str | None = None
    if config.use_cache:
        cache_path = request_cache_path(config, model, adapter)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache = str(cache_path)
    results = simple_evaluate(
        model="hf" if lm is None else lm,
        model_args=model_args if lm is None else None,
        tasks=list(config.tasks),
        num_fewshot=config.num_fewshot,
        batch_size=config.batch_size,
        device=config.device,
        use_cache=cache,
        limit=config.limit,
        samples=samples,
        log_samples=True,
        apply_chat_template=config.apply_chat_template,
        task_manager=task_manager,
        random_seed=config.seed,
        numpy_random_seed=config.seed,
        torch_random_seed=config.seed,
        fewshot_random_seed=config.seed,
        bootstrap_iters=0,  # intervals come from harness.stats on the per-sample records
    )
    if results is None:  # only on non-zero ranks of a distributed run
        raise RuntimeError("lm-eval returned no results on this process")
    return dict(results)
