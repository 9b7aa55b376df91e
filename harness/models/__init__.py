"""Models and adapters: resolve what the user named into local, hashed, checked directories."""

from harness.models._adapter import ResolvedAdapter, check_adapter_fits, resolve_adapter
from harness.models._bundled import DEFAULT_MODEL_NAME, ensure_default_model, verify_model_dir
from harness.models._resolve import ResolvedModel, resolve_model

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ResolvedAdapter",
    "ResolvedModel",
    "check_adapter_fits",
    "ensure_default_model",
    "resolve_adapter",
    "resolve_model",
    "verify_model_dir",
]
