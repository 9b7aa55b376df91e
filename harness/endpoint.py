"""One client for OpenAI-compatible HTTP endpoints (vLLM, OpenAI, a mindgate guard, ...).

Used by ``mindgate eval --backend openai``, the LLM judges and ``mindgate pairs synth``:

- the address may be given as ``http://host:port``, ``.../v1`` or ``.../v1/chat/completions``;
- the API key is read from an environment variable named by the caller, sent as a bearer token
  and never written anywhere (``as_record`` names the variable, not its value);
- a failed request is retried a bounded number of times: connection errors, timeouts and HTTP
  408/409/425/429/500/502/503/504 are retried, waiting what a ``Retry-After`` header asks (capped)
  or an exponential back-off; any other answer (400, 401, 404, ...) is an error at once, naming
  the address, the status and the start of the body.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import MindgateError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(MindgateError):
    """An endpoint that cannot be reached, refuses the request, or answers something unusable."""


def v1_url(url: str, flag: str = "--base-url") -> str:
    """``http://host:port``, ``.../v1`` or ``.../v1/(chat/)completions`` -> ``http://host:port/v1``."""
    url = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        url = url.removesuffix(suffix)
    if not url.startswith(("http://", "https://")):
        raise EndpointError(f"{flag} {url!r}: expected an address such as http://127.0.0.1:8000/v1")
    return url if url.endswith("/v1") else url + "/v1"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's wait: delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # normalised to .../v1 by ``endpoint``
    api_key_env: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3  # attempts in all, at least 1
    max_wait_s: float = 60.0  # the longest wait between attempts, whatever Retry-After asks

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise EndpointError(
                f"the API key variable {self.api_key_env} is not set; export it, or leave the key option out "
                "for an endpoint without a key"
            )
        return key

    def headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def as_record(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key_env": self.api_key_env}

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        asked = retry_after_seconds(retry_after)
        return min(self.max_wait_s, asked if asked is not None else 0.5 * 2**attempt)

    def _failure(self, method: str, path: str, status: int, body: str) -> EndpointError:
        url = self.base_url + path
        if status in (401, 403):
            hint = f"check the key (variable {self.api_key_env})" if self.api_key_env else "the endpoint wants a key"
            return EndpointError(f"{method} {url} was refused (HTTP {status}): {hint}")
        return EndpointError(f"{method} {url} failed with HTTP {status}: {body[:400]}")

    def _gave_up(self, method: str, path: str, problem: str) -> EndpointError:
        url = self.base_url + path
        if problem.startswith("HTTP "):
            return EndpointError(f"{method} {url}: no answer after {self.max_retries} attempts (last: {problem})")
        return EndpointError(f"cannot reach {url} after {self.max_retries} attempts ({problem})")

    def _decode(self, method: str, path: str, response: Any) -> Any:
        try:
            return response.json()
        except ValueError:
            raise EndpointError(
                f"{method} {self.base_url + path} answered HTTP {response.status_code} with a body that is not "
                f"JSON: {response.text[:200]!r}"
            ) from None

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        on_attempt: Callable[[], None] | None = None,
    ) -> Any:
        """One call with the retry policy; the decoded JSON answer. ``on_attempt`` is called for
        every HTTP answer received (a count of what the endpoint was really sent)."""
        import httpx

        problem = ""
        headers = self.headers()
        for attempt in range(max(1, self.max_retries)):
            try:
                response = httpx.request(
                    method, self.base_url + path, json=body, headers=headers, timeout=self.timeout_s
                )
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
                wait = self._wait(attempt, None)
            else:
                if on_attempt is not None:
                    on_attempt()
                if response.status_code < 300:
                    return self._decode(method, path, response)
                if response.status_code not in RETRYABLE_STATUS:
                    raise self._failure(method, path, response.status_code, response.text)
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                wait = self._wait(attempt, response.headers.get("retry-after"))
            if attempt + 1 < max(1, self.max_retries):
                time.sleep(wait)
        raise self._gave_up(method, path, problem)

    async def arequest(self, client: Any, path: str, body: dict[str, Any]) -> Any:
        """``request`` for an ``httpx.AsyncClient`` (POST)."""
        import httpx

        problem = ""
        headers = self.headers()
        for attempt in range(max(1, self.max_retries)):
            try:
                response = await client.post(self.base_url + path, json=body, headers=headers, timeout=self.timeout_s)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
                wait = self._wait(attempt, None)
            else:
                if response.status_code < 300:
                    return self._decode("POST", path, response)
                if response.status_code not in RETRYABLE_STATUS:
                    raise self._failure("POST", path, response.status_code, response.text)
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                wait = self._wait(attempt, response.headers.get("retry-after"))
            if attempt + 1 < max(1, self.max_retries):
                await asyncio.sleep(wait)
        raise self._gave_up("POST", path, problem)

    def listing(self) -> dict[str, Any]:
        """``GET /v1/models``; an unreachable endpoint is an error naming it."""
        listing = self.request("GET", "/models")
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            raise EndpointError(f"{self.base_url}/models did not return an OpenAI model list: {listing!r:.300}")
        return listing

    def served(self, wanted: str | None, flag: str = "--served-model") -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(model id, its /v1/models entry, the whole listing): ``wanted`` if served here; without
        it, the only model served (several: an error listing them)."""
        listing = self.listing()
        entries = {str(e.get("id")): e for e in listing["data"] if isinstance(e, dict)}
        if wanted is None:
            if len(entries) != 1:
                raise EndpointError(
                    f"{self.base_url} serves {len(entries)} models ({', '.join(entries) or 'none'}); choose with {flag}"
                )
            wanted = next(iter(entries))
        if wanted not in entries:
            raise EndpointError(f"{flag} {wanted!r} is not served at {self.base_url}; served: {', '.join(entries)}")
        return wanted, entries[wanted], listing

    def chat(self, body: dict[str, Any], on_attempt: Callable[[], None] | None = None) -> dict[str, Any]:
        """``POST /v1/chat/completions``; the first choice (its ``message`` and ``finish_reason``)."""
        return first_choice(self.base_url, self.request("POST", "/chat/completions", body, on_attempt))


def first_choice(base_url: str, answer: Any) -> dict[str, Any]:
    try:
        choice = answer["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{base_url}/chat/completions returned no choices: {answer!r:.300}") from None
    if not isinstance(choice, dict):
        raise EndpointError(f"{base_url}/chat/completions returned a malformed choice: {choice!r:.300}")
    return choice


def endpoint(
    base_url: str,
    api_key_env: str | None = None,
    timeout_s: float = 120.0,
    max_retries: int = 3,
    max_wait_s: float = 60.0,
) -> Endpoint:
    if max_retries < 1:
        raise EndpointError(f"max_retries {max_retries}: at least one attempt is needed")
    return Endpoint(v1_url(base_url), api_key_env, timeout_s, max_retries, max_wait_s)
