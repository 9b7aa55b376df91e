"""A real local HTTP server speaking the OpenAI API, whose answers the test chooses.

It stands in for a model server where the test needs answers it can predict: rate limits and
failures on cue, fixed replies (an unsafe one, for the guard), prompt log-probabilities or none.
It checks nothing about the client beyond recording what it was sent; tests against the real
vLLM server live in tests/integration.
"""

from __future__ import annotations

import json
import threading
import time
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
    chunk_chars: int = 7  # a streamed reply is sent in pieces of this many characters
    delay_s: float = 0.0  # wait this long before answering a POST (a slow upstream)
    chunk_delay_s: float = 0.0  # wait this long between streamed events
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pieces(self, text: str) -> list[str]:
        return [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)] or [""]

    def stream_events(self, body: dict[str, Any], chat: bool) -> list[dict[str, Any]]:
        text = self.reply(body["messages"]) if chat else self.reply([{"role": "user", "content": body["prompt"]}])
        head = {"id": "chatcmpl-standin" if chat else "cmpl-standin", "created": 1, "model": self.model}
        if chat:
            events = [
                {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                }
            ]
            events += [
                {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                for piece in self.pieces(text)
            ]
            events.append(
                {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
            return events
        events = [
            {**head, "object": "text_completion", "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
            for piece in self.pieces(text)
        ]
        events.append(
            {**head, "object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
        )
        return events

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

        def _stream(self, events: list[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for event in events:
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.flush()
                    if state.chunk_delay_s:
                        time.sleep(state.chunk_delay_s)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away

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
            if state.delay_s:
                time.sleep(state.delay_s)
            if body.get("stream") and self.path in ("/v1/chat/completions", "/v1/completions"):
                self._stream(state.stream_events(body, chat=self.path == "/v1/chat/completions"))
            elif self.path == "/v1/chat/completions":
                self._send(200, state.chat_answer(body))
            elif self.path == "/v1/completions":
                if body.get("echo") and not state.prompt_logprobs:
                    self._send(400, {"error": {"message": "echo is not supported"}})
                else:
                    self._send(200, state.completion_answer(body))
            else:
                self._send(404, {"error": f"no route {self.path}"})

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many clients at once (the default backlog is 5)
    daemon_threads = True


@contextmanager
def serving(state: StandIn) -> Iterator[StandIn]:
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
