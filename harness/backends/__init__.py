"""Model backends: lm-eval's hf model with shared prefixes computed once (``SharedPrefixHFLM``),
a wrapper that reports each finished request (``ObservedLM``), a vLLM OpenAI-compatible server
mindgate starts (or one it is pointed at), and the adapter-applied canary that must pass before
anything served is scored. The lm-eval based classes import torch and lm-eval, so they load only
when first used."""

from typing import Any

from harness.backends._canary import CanaryReport, load_settings, require_pass, run_canary
from harness.backends._client import ServerClient, normalise_base_url
from harness.backends._server import (
    BASE_NAME,
    ServedAdapter,
    ServerOptions,
    VllmServer,
    lora_rank_for,
    port_is_free,
    terminate_on_sigterm,
    vllm_version,
)

SHARED_PREFIX_MODEL = "mindgate-hf"  # the name SharedPrefixHFLM has in lm-eval's model registry
_LAZY = {"ObservedLM": "harness.backends._observed", "SharedPrefixHFLM": "harness.backends._shared_prefix"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BASE_NAME",
    "SHARED_PREFIX_MODEL",
    "CanaryReport",
    "ObservedLM",
    "ServedAdapter",
    "ServerClient",
    "ServerOptions",
    "SharedPrefixHFLM",
    "VllmServer",
    "load_settings",
    "lora_rank_for",
    "normalise_base_url",
    "port_is_free",
    "require_pass",
    "run_canary",
    "terminate_on_sigterm",
    "vllm_version",
]
