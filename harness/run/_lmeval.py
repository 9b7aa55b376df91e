"""The one place that calls lm-eval."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.models import ResolvedAdapter, ResolvedModel
from harness.paths import request_cache_dir
from harness.run._config import EvalConfig
from harness.run._progress import SuiteProgress, progress_display
from harness.run._timing import current_timing

# Generation on a 2-core CPU with the bundled model: see reports/bench/ for the measurement.
DEFAULT_GENERATION_BATCH_SIZE = 32
_LOADED: tuple[tuple[Any, ...], Any] | None = None


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
    if config.backend == "openai":
        # the same model id behind two addresses (a bare server and a guard in front of it) must
        # never share answers; the model's identity hash names the served id and the guard
        from harness.endpoint import v1_url

        return [v1_url(config.base_url or ""), str(config.max_model_len)]
    if config.backend != "vllm":
        # The two ways of scoring log-likelihoods agree within 1e-4, not bit for bit: a run made
        # one way must not be answered from the other's cache (a comparison of the two would be void).
        return ["shared-prefix-v1"] if config.shared_prefix else []
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
    console: Console | None = None,
) -> dict[str, Any]:
    """lm-eval's result for ``config.tasks``. ``lm``: an lm-eval LM object to use instead of the
    in-process hf model (the vllm backend). ``samples``: task -> document indices to evaluate
    (ascending), instead of ``config.limit``. Times go to the run's timing
    (``harness.run._timing``); progress is shown on ``console`` (default: stderr)."""
    from lm_eval import simple_evaluate

    from harness.backends import ObservedLM

    timing = current_timing()
    with timing.stage("setup"):
        loaded = task_manager.load(list(config.tasks))
    if lm is None:
        lm = hf_lm(config, model, adapter)
    for name, task in loaded["tasks"].items():
        task.process_results = timing.timed_scoring(name, task.process_results)
    progress = SuiteProgress(loaded["tasks"], timing, progress_display(console or Console(stderr=True)))
    cache: str | None = None
    if config.use_cache:
        cache_path = request_cache_path(config, model, adapter)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache = str(cache_path)
    started = time.monotonic()
    model_seconds, timing.first_scoring = timing.model_seconds(), None
    try:
        results = simple_evaluate(
            model=ObservedLM(lm, progress),
            tasks=_task_objects(loaded, config.tasks),
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
    finally:
        progress.finish()
    timing.settle_call(time.monotonic() - started, model_seconds, progress.first_call_after(started))
    if results is None:  # only on non-zero ranks of a distributed run
        raise RuntimeError("lm-eval returned no results on this process")
    results = dict(results)
    # the model object's own name would be a class or a weights path; record what scored instead
    results["config"] = {**results.get("config", {}), "model": _model_label(lm), "model_args": None}
    return results


def hf_lm(config: EvalConfig, model: ResolvedModel, adapter: ResolvedAdapter | None) -> Any:
    """The in-process model, loaded once per process for the same weights and settings: every
    lm-eval call of a run (tasks re-run one by one, gate chunks) reuses it."""
    global _LOADED
    key = (
        str(model.path),
        model.content_hash,
        str(adapter.path) if adapter else None,
        adapter.content_hash if adapter else None,
        config.dtype,
        config.device,
        config.batch_size,
        config.shared_prefix,
        generation_batch_size(config),
    )
    if _LOADED is not None and _LOADED[0] == key:
        return _LOADED[1]
    _LOADED = None  # let the previous model go before the next one loads
    from harness.backends import SharedPrefixHFLM

    arguments: dict[str, Any] = {
        "pretrained": str(model.path),
        "dtype": config.dtype,
        "device": config.device,
        "batch_size": config.batch_size,
        "shared_prefix": config.shared_prefix,
        "generation_batch_size": generation_batch_size(config),
    }
    if adapter is not None:
        arguments["peft"] = str(adapter.path)
    with current_timing().stage("model_load"):
        lm = SharedPrefixHFLM(**arguments)
    _LOADED = (key, lm)
    return lm


def generation_batch_size(config: EvalConfig) -> int:
    """``--generation-batch-size``, else the size measured fastest here (see `make bench`), but
    never below ``--batch-size``."""
    if config.generation_batch_size is not None:
        return config.generation_batch_size
    return max(DEFAULT_GENERATION_BATCH_SIZE, config.batch_size)


def _task_objects(loaded: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    """The loaded top-level groups and tasks, so lm-eval uses the objects whose scoring is timed
    (and does not load the tasks a second time). A name that is neither (a tag) is passed as is."""
    objects: list[Any] = []
    for name in names:
        found = loaded["groups"].get(name) or loaded["tasks"].get(name)
        objects.append(found if found is not None else name)
    return objects


def _model_label(lm: Any) -> str:
    from harness.backends import SHARED_PREFIX_MODEL

    if getattr(lm, "shared_prefix", None) is not None:
        return SHARED_PREFIX_MODEL if lm.trie_path_available() else "hf"
    return type(lm).__name__
