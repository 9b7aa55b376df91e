"""The vLLM backend's pure parts: addresses, LoRA ranks, the server command line, ports, and the
canary's decisions on fixed numbers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.backends import (
    ServedAdapter,
    ServerOptions,
    load_settings,
    lora_rank_for,
    normalise_base_url,
    port_is_free,
)
from harness.backends._canary import CanaryReport, _applied_check, _match_check, require_pass
from harness.backends._server import server_command
from harness.errors import AdapterMismatchError, CanaryError, ServerError

SETTINGS = load_settings()


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/v1/completions",
    ],
)
def test_base_url_is_normalised(given: str) -> None:
    assert normalise_base_url(given) == "http://127.0.0.1:8000"


def test_base_url_without_scheme_is_refused() -> None:
    with pytest.raises(ServerError, match="expected an address"):
        normalise_base_url("127.0.0.1:8000")


def _adapter(name: str, rank: int) -> ServedAdapter:
    return ServedAdapter(name, Path(f"/adapters/{name}"), rank)


def test_lora_rank_rounds_up_to_a_rank_vllm_serves() -> None:
    assert lora_rank_for((_adapter("a", 4), _adapter("b", 12)), None) == 16
    assert lora_rank_for((_adapter("a", 8),), None) == 8
    assert lora_rank_for((), None) is None


def test_adapter_above_requested_rank_is_refused_with_its_name() -> None:
    with pytest.raises(AdapterMismatchError, match=r"big \(rank 32\) exceeds --max-lora-rank 16"):
        lora_rank_for((_adapter("small", 8), _adapter("big", 32)), 16)


def test_server_holds_one_more_lora_slot_than_adapters_by_default() -> None:
    options = ServerOptions(model_path=Path("/m"), log_path=Path("/log"), adapters=(_adapter("a", 8), _adapter("b", 8)))
    command = server_command(options, 8123)
    assert command[command.index("--max-loras") + 1] == "3"
    assert command[command.index("--lora-modules") + 1 :][:2] == ["a=/adapters/a", "b=/adapters/b"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    explicit = server_command(ServerOptions(Path("/m"), Path("/log"), (_adapter("a", 8),), max_loras=1), 1)
    assert explicit[explicit.index("--max-loras") + 1] == "1"
    assert "--enable-lora" not in server_command(ServerOptions(Path("/m"), Path("/log")), 1)


def test_port_in_use_is_detected() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)


def test_match_check_fails_beyond_tolerance() -> None:
    limit = SETTINGS.match_max_abs
    ok = _match_check("match:prompt", "a", [[-1.0, -2.0]], [[-1.0 + limit / 2, -2.0]], SETTINGS)
    bad = _match_check("match:prompt", "a", [[-1.0, -2.0]], [[-1.0, -2.0 - 3 * limit]], SETTINGS)
    assert ok.passed and not bad.passed
    assert bad.measured == pytest.approx(3 * limit)
    assert not _match_check("match:prompt", "a", [[-1.0]], [[-1.0, -2.0]], SETTINGS).passed


def test_applied_check_refuses_an_adapter_that_changes_nothing() -> None:
    base = [[-1.0, -2.0, -3.0]]
    assert not _applied_check("zero-init", base, base, SETTINGS).passed
    moved = [[value - 0.5 for value in base[0]]]
    check = _applied_check("trained", moved, base, SETTINGS)
    assert check.passed and check.measured == pytest.approx(0.5)


def test_require_pass_names_every_failed_check() -> None:
    report = CanaryReport(
        checks=[
            _applied_check("zero-init", [[-1.0]], [[-1.0]], SETTINGS),
            _match_check("match:prompt", "base", [[0.0]], [[0.0]], SETTINGS),
        ]
    )
    with pytest.raises(CanaryError, match=r"applied on 'zero-init'") as raised:
        require_pass(report, "http://x")
    assert "on 'base'" not in str(raised.value)  # the passing check is not listed
