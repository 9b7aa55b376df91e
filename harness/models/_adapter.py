"""LoRA adapters: resolve, hash, and check that one really fits a base model before loading.

The fit check compares the adapter's tensor shapes with the base model's weight shapes, read
from safetensors headers (no weights are loaded): a LoRA pair for a module with weight
[out, in] must have A = [r, in] and B = [out, r]. This catches an adapter trained on another
model even when its ``base_model_name_or_path`` was rewritten or is a path on another machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import AdapterMismatchError, ModelNotFoundError
from harness.models._hashing import directory_hash

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>A|B)(?:\.[\w-]+)?\.weight$")


@dataclass(frozen=True)
class ResolvedAdapter:
    name: str
    path: Path
    content_hash: str
    declared_base: str | None  # base_model_name_or_path from adapter_config.json
    rank: int | None


def resolve_adapter(spec: str, task_type: str = "CAUSAL_LM") -> ResolvedAdapter:
    """``spec`` is ``path`` or ``name=path``; ``task_type`` is what the caller can use: a chat
    adapter (``CAUSAL_LM``) or a reward model (``SEQ_CLS``, written by `mindgate train reward`)."""
    name, _, raw_path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path = Path(raw_path).expanduser()
    config_path = path / "adapter_config.json"
    if not config_path.is_file():
        raise ModelNotFoundError(
            f"--adapter {spec!r}: {path.resolve()} has no adapter_config.json (expected a PEFT LoRA directory)"
        )
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise AdapterMismatchError(f"{config_path}: not valid JSON ({exc.msg})") from exc
    declared = config.get("task_type")
    if declared == "SEQ_CLS" and task_type != "SEQ_CLS":
        raise AdapterMismatchError(
            f"{path}: a reward model (a sequence-classification head), not a chat adapter; it scores replies "
            "and cannot generate: give it to `mindgate train ppo/rl` as reward_model or cost_model"
        )
    if task_type == "SEQ_CLS" and declared != "SEQ_CLS":
        raise AdapterMismatchError(
            f"{path}: a {declared or 'causal-LM'} adapter, not a reward model; train one with `mindgate train reward`"
        )
    resolved = path.resolve()
    return ResolvedAdapter(
        name=name or resolved.name,
        path=resolved,
        content_hash=directory_hash(resolved),
        declared_base=config.get("base_model_name_or_path"),
        rank=config.get("r"),
    )


def safetensors_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape for every safetensors file in a directory, from headers only."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(str(file), framework="numpy") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a dict
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def check_adapter_fits(adapter: ResolvedAdapter, base_dir: Path) -> None:
    """Raise AdapterMismatchError naming the first module whose shapes disagree."""
    adapter_shapes = safetensors_shapes(adapter.path)
    if not adapter_shapes:
        raise AdapterMismatchError(
            f"adapter {adapter.path}: no adapter_model.safetensors (save it with safe_serialization=True)"
        )
    base_shapes = safetensors_shapes(base_dir)
    if not base_shapes:
        raise AdapterMismatchError(f"base model {base_dir}: no safetensors weights to check the adapter against")
    checked = 0
    for key, shape in sorted(adapter_shapes.items()):
        match = _LORA_KEY.match(key)
        if match is None or len(shape) != 2:
            continue
        module = match["module"]
        base_key = f"{module}.weight"
        if base_key not in base_shapes:
            raise AdapterMismatchError(
                f"adapter {adapter.name} ({adapter.path}) targets {module}, which base model {base_dir} "
                f"does not have: it was trained for another model (declared base: {adapter.declared_base})"
            )
        base_out, base_in = base_shapes[base_key][0], base_shapes[base_key][-1]
        expected_dim, actual_dim = (base_in, shape[1]) if match["part"] == "A" else (base_out, shape[0])
        if expected_dim != actual_dim:
            raise AdapterMismatchError(
                f"adapter {adapter.name} ({adapter.path}) does not fit base model {base_dir}: {key} has shape "
                f"{list(shape)} but the base weight {base_key} is {list(base_shapes[base_key])} "
                f"(declared base: {adapter.declared_base})"
            )
        checked += 1
    if checked == 0:
        raise AdapterMismatchError(f"adapter {adapter.path}: no LoRA weights found in its safetensors files")
