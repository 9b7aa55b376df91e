"""The guard as an OpenAI-compatible HTTP proxy (FastAPI on uvicorn, httpx to the upstream).

Routes: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming or not),
``GET /v1/models`` (the upstream's list plus the guard's identity under ``mindgate_guard``),
``GET /health``. For each completion request the user's risk tier is predicted while the upstream
answers, the reply is checked by the rules of ``rubrics/guard.yaml``, and the reply is delivered
unchanged (the upstream's own bytes), delivered and flagged, or replaced by the safe reply with
``finish_reason: "content_filter"``. Every request ends with one audit line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.guard._audit import AuditLog
from harness.guard._config import GuardRules
from harness.guard._policy import Decision, GuardPolicy
from harness.guard._stream import Event, ReleaseBuffer, sse_events
from harness.scoring.message_risk import MessageRisk

T = TypeVar("T")


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class _ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    n: int = 1


class _CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    stream: bool = False
    n: int = 1
    echo: bool = False
    max_tokens: int | None = None

    @property
    def scoring_only(self) -> bool:
        """A log-likelihood request (echo, at most one new token, not streamed): it reads the
        prompt's log-probabilities and generates nothing a person reads, so it passes unchecked."""
        return self.echo and self.max_tokens is not None and self.max_tokens <= 1 and not self.stream


class BadRequest(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}}, status)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return ""


@dataclass
class _Exchange:
    """One request as the audit log records it."""

    request_id: str
    route: str
    stream: bool
    model: str
    started: float
    user_turns: list[str]
    record: dict[str, Any]

    @property
    def message(self) -> str:
        return self.user_turns[-1] if self.user_turns else ""


class GuardApp:
    def __init__(
        self,
        rules: GuardRules,
        policy: GuardPolicy,
        upstream: str,
        audit: AuditLog,
        api_key: str | None = None,
        upstream_api_key: str | None = None,
    ) -> None:
        self.rules = rules
        self.policy = policy
        self.upstream = upstream.rstrip("/")  # .../v1
        self.audit = audit
        self.api_key = api_key
        self.upstream_headers = {"Authorization": f"Bearer {upstream_api_key}"} if upstream_api_key else {}
        # the classifiers run one request at a time off the event loop (2 cores: no gain from more)
        self.models = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard-models")
        self.client: httpx.AsyncClient | None = None

    async def run_model(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.models, function, *args)

    # ---- the app

    def build(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            timeout = httpx.Timeout(self.rules.timeout_s, connect=self.rules.connect_timeout_s)
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
                self.client = client
                yield
            self.models.shutdown(wait=False)

        app = FastAPI(title="mindgate guard", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

        @app.middleware("http")
        async def authorise(request: Request, call_next: Any) -> Any:
            if self.api_key and request.url.path.startswith("/v1"):
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
                    return _error(401, "missing or wrong API key (Authorization: Bearer ...)", "authentication_error")
            return await call_next(request)

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/v1/models")
        async def models() -> Response:
            try:
                answer = await self._client().get(f"{self.upstream}/models", headers=self.upstream_headers)
            except httpx.TimeoutException:
                return _error(504, f"the upstream {self.upstream} did not answer in time", "upstream_timeout")
            except httpx.HTTPError as problem:
                return _error(502, f"cannot reach the upstream {self.upstream}: {problem}", "upstream_error")
            if answer.status_code != 200:
                return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))
            listing = answer.json()
            listing["mindgate_guard"] = self.policy.identity()
            return JSONResponse(listing)

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            return await self._complete(request, "chat")

        @app.post("/v1/completions")
        async def completions(request: Request) -> Response:
            return await self._complete(request, "completions")

        return app

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            raise RuntimeError("the guard's HTTP client is not open (the app was not started)")
        return self.client

    # ---- requests

    async def _read(self, request: Request, route: str) -> tuple[bytes, _ChatRequest | _CompletionRequest]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.rules.max_request_bytes:
            raise BadRequest(413, f"the request body is larger than {self.rules.max_request_bytes} bytes")
        raw = await request.body()
        if len(raw) > self.rules.max_request_bytes:
            raise BadRequest(413, f"the request body is larger than {self.rules.max_request_bytes} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "the request body must be a JSON object")
        model = _ChatRequest if route == "chat" else _CompletionRequest
        try:
            parsed = model.model_validate(body)
        except ValidationError as problem:
            first = problem.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise BadRequest(400, f"{where}: {first['msg']}", where) from None
        if parsed.n != 1:
            raise BadRequest(400, "n: the guard checks one reply per request; n must be 1", "n")
        if isinstance(parsed, _CompletionRequest) and not parsed.scoring_only:
            if parsed.echo:
                raise BadRequest(
                    400, "echo: only for scoring requests through the guard (echo with max_tokens <= 1)", "echo"
                )
            prompts = parsed.prompt if isinstance(parsed.prompt, list) else [parsed.prompt]
            if len(prompts) != 1 or not isinstance(prompts[0], str):
                raise BadRequest(
                    400,
                    "prompt: one text prompt per request (token ids are accepted only for scoring requests: echo "
                    "with max_tokens <= 1)",
                    "prompt",
                )
        return raw, parsed

    def _user_turns(self, parsed: _ChatRequest | _CompletionRequest) -> list[str]:
        if isinstance(parsed, _CompletionRequest):
            if parsed.scoring_only:
                return []
            prompt = parsed.prompt if isinstance(parsed.prompt, str) else parsed.prompt[0]
            turns = [prompt if isinstance(prompt, str) else ""]
            fields = ["prompt"]
        else:
            indexed = [(i, _content_text(m.content)) for i, m in enumerate(parsed.messages) if m.role == "user"]
            turns = [text for _, text in indexed]
            fields = [f"messages.{i}.content" for i, _ in indexed]
        for field, text in zip(fields, turns, strict=True):
            if len(text) > self.rules.max_message_chars:
                raise BadRequest(
                    400,
                    f"{field}: {len(text)} characters, more than the guard reads ({self.rules.max_message_chars}; "
                    "limits.max_message_chars in the guard rules)",
                    field,
                )
        return turns

    async def _complete(self, request: Request, route: str) -> Response:
        request_id = f"guard-{uuid.uuid4().hex[:16]}"
        started = time.monotonic()
        try:
            raw, parsed = await self._read(request, route)
            turns = self._user_turns(parsed)
        except BadRequest as bad:
            self.audit.write(
                {
                    "request_id": request_id,
                    "route": route,
                    "time": time.time(),
                    "action": "rejected",
                    "status": bad.status,
                    "reasons": [bad.message],
                }
            )
            return _error(bad.status, bad.message, "invalid_request_error", bad.param)
        exchange = _Exchange(request_id, route, parsed.stream, parsed.model, started, turns, {})
        if isinstance(parsed, _CompletionRequest) and parsed.scoring_only:
            return await self._pass_scoring_request(exchange, raw)
        risk_task = asyncio.ensure_future(self.run_model(self.policy.assess, turns))
        path = "/chat/completions" if route == "chat" else "/completions"
        headers = {**self.upstream_headers, "content-type": "application/json"}
        upstream_request = self._client().build_request("POST", self.upstream + path, content=raw, headers=headers)
        try:
            answer = await self._client().send(upstream_request, stream=parsed.stream)
        except httpx.TimeoutException:
            risk_task.cancel()
            return self._upstream_failure(exchange, 504, f"the upstream {self.upstream} did not answer in time")
        except httpx.HTTPError as problem:
            risk_task.cancel()
            return self._upstream_failure(exchange, 502, f"cannot reach the upstream {self.upstream}: {problem}")
        exchange.record["upstream_status"] = answer.status_code
        if answer.status_code != 200:
            body = await answer.aread()
            await answer.aclose()
            risk_task.cancel()
            self._finish(exchange, "upstream_error", [f"upstream HTTP {answer.status_code}"], None, None)
            return Response(body, answer.status_code, media_type=answer.headers.get("content-type"))
        if parsed.stream:
            return StreamingResponse(
                self._stream(exchange, answer, risk_task, route),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-mindgate-request-id": request_id},
            )
        return await self._whole(exchange, answer, risk_task, route)

    async def _pass_scoring_request(self, exchange: _Exchange, raw: bytes) -> Response:
        headers = {**self.upstream_headers, "content-type": "application/json"}
        try:
            answer = await self._client().post(self.upstream + "/completions", content=raw, headers=headers)
        except httpx.TimeoutException:
            return self._upstream_failure(exchange, 504, f"the upstream {self.upstream} did not answer in time")
        except httpx.HTTPError as problem:
            return self._upstream_failure(exchange, 502, f"cannot reach the upstream {self.upstream}: {problem}")
        exchange.record["upstream_status"] = answer.status_code
        self._finish(exchange, "scoring_passthrough", [], None, None)
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

    def _upstream_failure(self, exchange: _Exchange, status: int, message: str) -> JSONResponse:
        exchange.record["upstream_status"] = None
        self._finish(exchange, "upstream_error", [message], None, None)
        kind = "upstream_timeout" if status == 504 else "upstream_error"
        return _error(status, message, kind)

    async def _whole(
        self, exchange: _Exchange, answer: httpx.Response, risk_task: asyncio.Future[MessageRisk], route: str
    ) -> Response:
        content = answer.content
        exchange.record["upstream_ms"] = round((time.monotonic() - exchange.started) * 1000, 1)
        try:
            payload = json.loads(content)
            choice = payload["choices"][0]
            reply = choice["message"]["content"] if route == "chat" else choice["text"]
            reply = reply if isinstance(reply, str) else ""
        except (ValueError, KeyError, IndexError, TypeError):
            risk_task.cancel()
            self._finish(exchange, "upstream_error", ["the upstream's answer has no readable reply"], None, None)
            return _error(502, "the upstream's answer has no readable reply; nothing was delivered", "upstream_error")
        risk = await risk_task
        checked = time.monotonic()
        decision = await self.run_model(self.policy.check, exchange.message, risk, reply, True)
        exchange.record["check_ms"] = round((time.monotonic() - checked) * 1000, 1)
        if decision.blocks:
            if route == "chat":
                choice["message"] = {"role": "assistant", "content": self.policy.safe_reply}
            else:
                choice["text"] = self.policy.safe_reply
            choice["finish_reason"] = "content_filter"
            payload["choices"] = [choice]
            self._finish(exchange, "block", decision.reasons, decision, reply, delivered=self.policy.safe_reply)
            return JSONResponse(payload, headers={"x-mindgate-request-id": exchange.request_id})
        self._finish(exchange, decision.action, decision.reasons, decision, reply, delivered=reply)
        return Response(
            content,
            200,
            media_type=answer.headers.get("content-type", "application/json"),
            headers={"x-mindgate-request-id": exchange.request_id},
        )

    async def _stream(
        self, exchange: _Exchange, answer: httpx.Response, risk_task: asyncio.Future[MessageRisk], route: str
    ) -> AsyncIterator[bytes]:
        action, reasons, decision = "pass", [], None
        buffer: ReleaseBuffer | None = None
        first: dict[str, Any] | None = None
        outcome = "completed"
        delivered_events = 0
        try:
            risk = await risk_task
            streaming = self.rules.streaming
            buffer = ReleaseBuffer(
                streaming.holds_whole_reply(risk.tier), streaming.window_chars, streaming.check_every_chars
            )
            done: Event | None = None
            try:
                async for event in sse_events(answer.aiter_lines()):
                    if event.data == "[DONE]":
                        done = event
                        break
                    if event.parsed is None:
                        reasons.append("an unreadable upstream event was dropped")
                        continue
                    first = first or event.parsed
                    buffer.add(event)
                    if buffer.needs_check():
                        decision = await self.run_model(self.policy.check, exchange.message, risk, buffer.reply, False)
                        if decision.blocks:
                            break
                        for raw in buffer.checked():
                            delivered_events += 1
                            yield raw
            except httpx.HTTPError as problem:
                outcome = "upstream_error"
                reasons.append(f"the upstream stream broke: {type(problem).__name__}: {problem}")
                yield _sse(
                    {
                        "error": {
                            "message": "the upstream stream broke; the rest of the reply is withheld",
                            "type": "upstream_error",
                        }
                    }
                )
                yield b"data: [DONE]\n\n"
                return
            if decision is None or not decision.blocks:
                decision = await self.run_model(self.policy.check, exchange.message, risk, buffer.reply, True)
            action, reasons = decision.action, reasons + decision.reasons
            if decision.blocks:
                yield _sse(self._replacement_chunk(first, route, buffer.released_chars > 0))
                yield b"data: [DONE]\n\n"
                return
            for raw in buffer.release_all():
                delivered_events += 1
                yield raw
            yield done.raw if done is not None else b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "client_disconnected"
            raise
        finally:
            await answer.aclose()
            if not risk_task.done():
                risk_task.cancel()
            exchange.record.update(
                {
                    "stream_outcome": outcome,
                    "released_chars": None if buffer is None else buffer.released_chars,
                    "withheld_chars": None if buffer is None else buffer.withheld_chars,
                    "hold_whole_reply": None if buffer is None else buffer.hold_whole_reply,
                    "delivered_events": delivered_events,
                }
            )
            reply = None if buffer is None else buffer.reply
            final_action = action if outcome == "completed" else outcome
            delivered = self.policy.safe_reply if action == "block" else reply
            self._finish(exchange, final_action, reasons, decision, reply, delivered=delivered)

    def _replacement_chunk(self, first: dict[str, Any] | None, route: str, after_text: bool) -> dict[str, Any]:
        text = ("\n\n" if after_text else "") + self.policy.safe_reply
        base = {key: (first or {}).get(key) for key in ("id", "created", "model")}
        if route == "chat":
            choice = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "content_filter"}
            return {**base, "object": "chat.completion.chunk", "choices": [choice]}
        choice = {"index": 0, "text": text, "finish_reason": "content_filter"}
        return {**base, "object": "text_completion", "choices": [choice]}

    def _finish(
        self,
        exchange: _Exchange,
        action: str,
        reasons: list[str],
        decision: Decision | None,
        reply: str | None,
        delivered: str | None = None,
    ) -> None:
        record = {
            "request_id": exchange.request_id,
            "time": time.time(),
            "route": exchange.route,
            "stream": exchange.stream,
            "model": exchange.model,
            "action": action,
            "reasons": reasons,
            "scores": None if decision is None else decision.scores,
            "total_ms": round((time.monotonic() - exchange.started) * 1000, 1),
            **exchange.record,
            **self.audit.texts(message=exchange.message, reply=reply, delivered=delivered),
        }
        self.audit.write(record)


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
