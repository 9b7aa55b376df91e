"""Content hashes of files and model directories."""

from __future__ import annotations

import hashlib
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


def file_hashes(directory: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in relevant_files(directory)}


def combine_hashes(hashes: dict[str, str]) -> str:
    """One digest for a set of named file digests (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return digest.hexdigest()


def directory_hash(directory: Path) -> str:
    return combine_hashes(file_hashes(directory))
