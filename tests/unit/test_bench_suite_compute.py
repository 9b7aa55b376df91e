"""The suite's compute floor counts each context once, each option's tokens, and every generated token."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import PROJECT_DIR


def _module() -> ModuleType:
    path = PROJECT_DIR / "scripts" / "bench_suite_compute.py"
    spec = importlib.util.spec_from_file_location("bench_suite_compute", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shape() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    return _module().ModelShape(LlamaForCausalLM(config))


def _words(text: str) -> list[str]:
    return text.split()


def test_layer_parameters_leave_out_the_tied_embedding(shape: Any) -> None:
    # per layer: q 16x16, k and v 16x8, o 16x16, mlp 3 x 16x32, two norms of 16; plus the final norm
    per_layer = 256 + 128 + 128 + 256 + 3 * 512 + 2 * 16
    assert shape.layer_params == 2 * per_layer + 16
    assert shape.hidden == 16 and shape.layers == 2 and shape.vocab == 50


def test_attention_reads_every_earlier_position(shape: Any) -> None:
    # three tokens after a context of 4 read 5, 6 and 7 positions
    expected = 2.0 * shape.layer_params * 3 + 4.0 * 16 * 2 * (5 + 6 + 7)
    assert shape.tokens_flops(4, 3) == pytest.approx(expected)


def test_options_share_their_context_in_the_trie(shape: Any) -> None:
    rows = [{"arguments": [["a b c", "x"], ["a b c", "y z"]], "resps": [[[-1.0, False]], [[-2.0, True]]]}]
    work = _module().count_work({"mc": rows}, _words, shape)["mc"]
    assert work["kind"] == "log-likelihood"
    # inputs a b c (predicts x) and a b c y (predicts y, z): four trie nodes, c and y predict
    assert work["tokens"] == 4 and work["kept_logits"] == 2
    expected = 2.0 * shape.layer_params * 4 + 4.0 * 16 * 2 * (1 + 2 + 3 + 4) + shape.logits_flops(2)
    assert work["gflop"] == pytest.approx(expected / 1e9)


def test_every_sample_is_generated_after_its_prompt(shape: Any) -> None:
    rows = [{"arguments": [["p q", {"do_sample": True}]], "resps": [["one two", "three"]]}]
    work = _module().count_work({"gen": rows}, _words, shape)["gen"]
    assert work["kind"] == "generation"
    assert work["tokens"] == 2 + 2 + 1 and work["kept_logits"] == 3
    expected = shape.tokens_flops(0, 2) + shape.tokens_flops(2, 2) + shape.tokens_flops(2, 1) + shape.logits_flops(3)
    assert work["gflop"] == pytest.approx(expected / 1e9)
