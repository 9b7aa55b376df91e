"""The few OpenAI-compatible calls mindgate makes itself (lm-eval makes the scoring calls)."""

from __future__ import annotations

from typing import Any

from harness.errors import ServerError


def normalise_base_url(url: str) -> str:
    """``http://host:port``, ``.../v1`` or ``.../v1/completions`` -> ``http://host:port``."""
    url = url.strip().rstrip("/")
    for suffix in ("/completions", "/chat/completions", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if not url.startswith(("http://", "https://")):
        raise ServerError(f"--base-url {url!r}: expected an address such as http://127.0.0.1:8000")
    return url.rstrip("/")


class ServerClient:
    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        self.base_url = normalise_base_url(base_url)
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        import requests

        url = self.base_url + path
        try:
            response = requests.request(method, url, json=payload, timeout=self.timeout_s)
        except requests.ConnectionError as exc:
            raise ServerError(
                f"cannot reach the model server at {url}: connection refused or host unreachable"
            ) from exc
        except requests.Timeout as exc:
            raise ServerError(f"the model server at {url} did not answer within {self.timeout_s:.0f} s") from exc
        if not response.ok:
            raise ServerError(f"{method} {url} failed with HTTP {response.status_code}: {response.text[:500]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def is_healthy(self) -> bool:
        import requests

        try:
            return requests.get(self.base_url + "/health", timeout=self.timeout_s).ok
        except requests.RequestException:
            return False

    def model_ids(self) -> list[str]:
        listing = self._request("GET", "/v1/models")
        try:
            return [str(entry["id"]) for entry in listing["data"]]
        except (KeyError, TypeError) as exc:
            raise ServerError(
                f"{self.base_url}/v1/models did not return an OpenAI model list: {listing!r:.300}"
            ) from exc

    def model_roots(self) -> dict[str, str]:
        """Served name -> the path or id it was loaded from (vLLM's ``root`` field), where given."""
        listing = self._request("GET", "/v1/models")
        return {str(entry["id"]): str(entry.get("root") or "") for entry in listing.get("data", [])}

    def load_adapter(self, name: str, path: str) -> None:
        """Runtime loading (the server needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)."""
        try:
            self._request("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        except ServerError as exc:
            raise ServerError(
                f"the server refused to load adapter {name!r} from {path}: {exc}. A server that mindgate did "
                "not start must run with --enable-lora, a --max-lora-rank at least the adapter's rank, and "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
            ) from exc

    def completion(
        self,
        model: str,
        prompt: list[int],
        max_tokens: int,
        echo: bool = False,
        stop_token_ids: list[int] | None = None,
    ) -> dict[str, Any]:
        """Greedy completion of one token-id prompt with the chosen token's log-probability at
        each position (and the prompt's own, when ``echo``)."""
        payload: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0,
            "logprobs": 0,
            "echo": echo,
            "seed": 0,
            "return_tokens_as_token_ids": True,
        }
        if stop_token_ids is not None:
            payload["stop_token_ids"] = stop_token_ids
        answer = self._request("POST", "/v1/completions", payload)
        try:
            choice: dict[str, Any] = answer["choices"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise ServerError(
                f"{self.base_url}/v1/completions returned no choices for {model!r}: {answer!r:.300}"
            ) from exc
        return choice
