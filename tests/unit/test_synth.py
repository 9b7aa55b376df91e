"""`mindgate pairs synth` without a model: the errors a user meets first, and a resumed run."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from harness.curate.records import read_prompts
from harness.errors import DataFormatError
from harness.synth import PairSynthesiser, SynthConfig, SynthError, _names_in, load_instructions, normalise_v1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_is_named_before_any_pair_is_lost(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    port = _free_port()
    synthesiser = PairSynthesiser(SynthConfig(base_url=f"http://127.0.0.1:{port}", model="m"))
    with pytest.raises(SynthError, match=rf"cannot reach http://127.0.0.1:{port}/v1/models"):
        synthesiser.run([("a", "I feel low")], out)
    assert not out.exists()


def test_a_missing_key_variable_is_named() -> None:
    with pytest.raises(SynthError, match="MINDGATE_TEST_NO_SUCH_KEY"):
        PairSynthesiser(
            SynthConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="MINDGATE_TEST_NO_SUCH_KEY")
        )


def test_base_urls_are_normalised_to_the_v1_root() -> None:
    assert normalise_v1("http://h:8000") == "http://h:8000/v1"
    assert normalise_v1("http://h:8000/v1/chat/completions") == "http://h:8000/v1"
    with pytest.raises(SynthError, match="expected an address"):
        normalise_v1("h:8000")


def test_a_rerun_skips_finished_prompts_and_drops_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    out.write_text(json.dumps({"id": "a", "prompt": "p"}) + "\n" + '{"id": "b", "pro', encoding="utf-8")
    assert _names_in(out) == {"a"}
    assert out.read_text().count("\n") == 1  # the torn line is gone, the finished pair kept
    synthesiser = PairSynthesiser(SynthConfig(base_url=f"http://127.0.0.1:{_free_port()}", model="m"))
    outcome = synthesiser.run([("a", "p")], out)  # nothing left to do: the endpoint is not even asked
    assert outcome.already_done == 1 and outcome.written == 0


def test_a_foreign_line_in_the_middle_of_the_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    out.write_text('not json\n{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"pairs.jsonl, line 1"):
        _names_in(out)


def test_prompt_files_name_the_missing_column_and_the_empty_row(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"text": "I cannot sleep"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"no column named 'prompt'.*--prompt"):
        read_prompts(path, "prompt")
    path.write_text('{"prompt": "I cannot sleep", "id": "x"}\n{"prompt": " ", "id": "y"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"row 2 \(line 2\), column 'prompt': the prompt is empty"):
        read_prompts(path, "prompt", "id")


def test_the_instructions_never_ask_for_harmful_content() -> None:
    instructions = load_instructions()
    rejected = instructions.systems["rejected"].lower()
    assert "never include methods, means or doses" in rejected
    assert "988" in instructions.systems["chosen"]
