"""Content hashes of files and model directories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_CHUNK = 4 * 1024 * 1024

# Files that determine what a Hugging Face model or adapter computes. Everything else in the
# directory (READMEs, training logs, optimizer states) is ignored by the hash.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_CONFIG_NAMES = (
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def relevant_files(directory: Path) -> list[Path]:
    """The files of a model/adapter directory that the content hash covers, in a stable order."""
    files = [
        p for p in directory.iterdir() if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name in _CONFIG_NAMES)
    ]
    return sorted(files, key=lambda p: p.name)


# adapter_config.json fields that PEFT fills from a Python set: the same adapter saved twice can
# list them in two orders (string hashing is randomised per process), so they are hashed sorted.
_SET_VALUED_FIELDS = ("target_modules", "modules_to_save", "exclude_modules", "layers_to_transform")


def adapter_config_hash(path: Path) -> str:
    """The digest of an adapter_config.json as data: key order, whitespace and the order of
    set-valued fields do not change it. A file that is not a JSON object is hashed as bytes."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return sha256_file(path)
    if not isinstance(config, dict):
        return sha256_file(path)
    for field in _SET_VALUED_FIELDS:
        if isinstance(config.get(field), list):
            config[field] = sorted(config[field], key=lambda value: json.dumps(value, sort_keys=True))
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    return {
        p.name: adapter_config_hash(p) if p.name == "adapter_config.json" else sha256_file(p)
        for p in relevant_files(directory)
    }


def combine_hashes(hashes: dict[str, str]) -> str:
    """One digest for a set of named file digests (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return digest.hexdigest()


def directory_hash(directory: Path) -> str:
    return combine_hashes(file_hashes(directory))
