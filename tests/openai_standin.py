"""A real local HTTP server speaking the OpenAI API, whose answers the test chooses.

It stands in for a model server where the test needs answers it can predict: rate limits and
failures on cue, fixed replies (an unsafe one, for the guard), prompt log-probabilities or none.
It checks nothing about the client beyond recording what it was sent; tests against the real
vLLM server live in tests/integration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]]], str]


@dataclass
class StandIn:
    model: str = "stand-in-model"
    reply: Reply = field(default=lambda messages: "I hear you. That sounds really hard.")
    listing_extra: dict[str, Any] = field(default_factory=dict)  # extra top-level fields of /v1/models
    prompt_logprobs: bool = True  # /v1/completions with echo returns them
    throttle: int = 0  # answer this many POSTs with 429 first
    retry_after: str = "0"
    fail_status: list[int] = field(default_factory=list)  # answer the next POSTs with these statuses, in turn
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def chat_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.reply(body["messages"])
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }

    def completion_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        prompts = prompt if isinstance(prompt, list) and prompt and isinstance(prompt[0], list) else [prompt]
        return {
            "id": "cmpl-standin",
            "object": "text_completion",
            "model": self.model,
            "choices": [
                {"index": i, "text": " ok", "logprobs": self._logprobs(p, body), "finish_reason": "length"}
                for i, p in enumerate(prompts)
            ],
        }

    def _logprobs(self, prompt: Any, body: dict[str, Any]) -> dict[str, Any] | None:
        if not (self.prompt_logprobs and body.get("echo")):
            return None
        ids = prompt if isinstance(prompt, list) else list(range(len(str(prompt).split()) + 1))
        # a deterministic stand-in value per token, so answer options get different sums
        values: list[float | None] = [None, *(-((t % 7) + 1) / 4 for t in ids[1:]), -0.5]
        return {
            "token_logprobs": values,
            "top_logprobs": [None, *({str(t): v} for t, v in zip([*ids[1:], 0], values[1:], strict=True))],
            "tokens": [str(t) for t in [*ids, 0]],
        }


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                models = [{"id": state.model, "root": state.model}]
                self._send(200, {"object": "list", "data": models, **state.listing_extra})
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.bodies.append(body)
                state.auth.append(self.headers.get("Authorization"))
                if state.throttle > 0:
                    state.throttle -= 1
                    self._send(429, {"error": "slow down"}, {"Retry-After": state.retry_after})
                    return
                if state.fail_status:
                    status = state.fail_status.pop(0)
                    self._send(status, {"error": {"message": f"stand-in failure {status}"}})
                    return
            if self.path == "/v1/chat/completions":
                self._send(200, state.chat_answer(body))
            elif self.path == "/v1/completions":
                if body.get("echo") and not state.prompt_logprobs:
                    self._send(400, {"error": {"message": "echo is not supported"}})
                else:
                    self._send(200, state.completion_answer(body))
            else:
                self._send(404, {"error": f"no route {self.path}"})

    return Handler


@contextmanager
def serving(state: StandIn) -> Iterator[StandIn]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
