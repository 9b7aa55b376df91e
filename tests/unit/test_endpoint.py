"""The shared OpenAI-compatible client: which failures are retried, how long it waits, and what
its errors say. Against a real local HTTP server (tests/openai_standin.py)."""

from __future__ import annotations

import socket
import time

import pytest

from harness.endpoint import EndpointError, endpoint, retry_after_seconds, v1_url
from tests.openai_standin import StandIn, serving

CHAT = {"model": "stand-in-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def test_addresses_are_normalised_to_the_v1_root() -> None:
    assert v1_url("http://h:8000") == "http://h:8000/v1"
    assert v1_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert v1_url("https://api.example.org/v1/chat/completions") == "https://api.example.org/v1"
    with pytest.raises(EndpointError, match="expected an address"):
        v1_url("h:8000")


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_rate_limit_is_waited_out_as_the_server_asks() -> None:
    with serving(StandIn(throttle=2, retry_after="0.4")) as standin:
        client = endpoint(standin.url, max_retries=3)
        started = time.monotonic()
        choice = client.chat(CHAT)
        waited = time.monotonic() - started
    assert choice["message"]["content"].startswith("I hear you")
    assert len(standin.bodies) == 3
    assert waited >= 0.8, "two 429 answers asked for 0.4 s each"


def test_the_wait_is_capped_whatever_retry_after_asks() -> None:
    with serving(StandIn(throttle=1, retry_after="3600")) as standin:
        started = time.monotonic()
        endpoint(standin.url, max_retries=2, max_wait_s=0.2).chat(CHAT)
        assert time.monotonic() - started < 5


def test_a_client_error_is_not_retried_and_names_the_status_and_body() -> None:
    with serving(StandIn(fail_status=[400])) as standin:
        with pytest.raises(EndpointError, match=r"/v1/chat/completions failed with HTTP 400: .*stand-in failure 400"):
            endpoint(standin.url, max_retries=5).chat(CHAT)
        assert len(standin.bodies) == 1


def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    with serving(StandIn(fail_status=[503, 502, 500, 500])) as standin:
        with pytest.raises(EndpointError, match=r"no answer after 3 attempts \(last: HTTP 500"):
            endpoint(standin.url, max_retries=3, max_wait_s=0.05).chat(CHAT)
        assert len(standin.bodies) == 3
        assert endpoint(standin.url, max_retries=2, max_wait_s=0.05).chat(CHAT)["finish_reason"] == "stop"


def test_a_refused_key_and_a_missing_key_variable_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(StandIn(fail_status=[401])) as standin:
        monkeypatch.setenv("STANDIN_KEY", "sekret-1")
        with pytest.raises(EndpointError, match=r"refused \(HTTP 401\): check the key \(variable STANDIN_KEY\)"):
            endpoint(standin.url, api_key_env="STANDIN_KEY").chat(CHAT)
        assert standin.auth == ["Bearer sekret-1"]
    with pytest.raises(EndpointError, match="variable MINDGATE_NO_SUCH_KEY is not set"):
        endpoint("http://127.0.0.1:9/v1", api_key_env="MINDGATE_NO_SUCH_KEY").headers()


def test_an_unreachable_endpoint_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EndpointError, match=rf"cannot reach http://127.0.0.1:{port}/v1/models after 2 attempts"):
        endpoint(f"http://127.0.0.1:{port}", max_retries=2, max_wait_s=0.05).listing()


def test_the_served_model_is_chosen_or_the_choice_is_asked_for() -> None:
    with serving(StandIn(model="only-one")) as standin:
        client = endpoint(standin.url)
        assert client.served(None)[0] == "only-one"
        with pytest.raises(EndpointError, match=r"--served-model 'other' is not served .*served: only-one"):
            client.served("other")
