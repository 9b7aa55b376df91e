"""Model servers: a vLLM OpenAI-compatible server mindgate starts (or one it is pointed at), and
the adapter-applied canary that must pass before anything served is scored."""

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

__all__ = [
    "BASE_NAME",
    "CanaryReport",
    "ServedAdapter",
    "ServerClient",
    "ServerOptions",
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
