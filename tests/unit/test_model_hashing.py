"""Content hashes of adapters: what identifies an adapter in the request cache and the leaderboard."""

import json
from pathlib import Path
from typing import Any

from harness.models import resolve_adapter

CONFIG: dict[str, Any] = {
    "peft_type": "LORA",
    "r": 8,
    "lora_alpha": 16,
    "target_modules": ["q_proj", "v_proj", "k_proj"],
    "base_model_name_or_path": "smollm2-135m-instruct",
}


def adapter_dir(root: Path, name: str, config: dict[str, Any], text: str | None = None, weights: bytes = b"w") -> Path:
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text(text if text is not None else json.dumps(config))
    (path / "adapter_model.safetensors").write_bytes(weights)
    (path / "README.md").write_text(f"trained by {name}")  # not part of the hash
    return path


def test_the_same_adapter_saved_twice_has_one_hash(tmp_path: Path) -> None:
    first = adapter_dir(tmp_path, "a", CONFIG)
    # another process: keys and the set-valued target_modules in another order, other whitespace
    reordered = {**dict(reversed(list(CONFIG.items()))), "target_modules": ["v_proj", "k_proj", "q_proj"]}
    second = adapter_dir(tmp_path, "b", reordered, text=json.dumps(reordered, indent=4))
    assert resolve_adapter(str(first)).content_hash == resolve_adapter(str(second)).content_hash


def test_a_change_that_alters_the_computation_changes_the_hash(tmp_path: Path) -> None:
    base = resolve_adapter(str(adapter_dir(tmp_path, "base", CONFIG))).content_hash
    rank = resolve_adapter(str(adapter_dir(tmp_path, "rank", {**CONFIG, "r": 16}))).content_hash
    modules = resolve_adapter(str(adapter_dir(tmp_path, "mods", {**CONFIG, "target_modules": ["q_proj"]}))).content_hash
    weights = resolve_adapter(str(adapter_dir(tmp_path, "weights", CONFIG, weights=b"other"))).content_hash
    assert len({base, rank, modules, weights}) == 4
