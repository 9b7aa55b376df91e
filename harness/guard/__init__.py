"""The real-time safety guard: an OpenAI-compatible proxy in front of any served model.

``mindgate guard --upstream http://127.0.0.1:8000/v1`` (or ``make guard UPSTREAM=...``) listens on
127.0.0.1:8100 by default. What it checks and does is data: ``rubrics/guard.yaml``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MindgateError
from harness.guard._audit import AuditLog
from harness.guard._config import GUARD_RULES, GuardRules, load_guard_rules
from harness.guard._policy import Decision, GuardPolicy, GuardSetupError, crisis_resources

__all__ = [
    "GUARD_RULES",
    "AuditLog",
    "Decision",
    "GuardOptions",
    "GuardPolicy",
    "GuardRules",
    "GuardSetupError",
    "build_guard_app",
    "crisis_resources",
    "load_guard_rules",
    "serve_guard",
]


@dataclass(frozen=True)
class GuardOptions:
    upstream: str
    host: str = "127.0.0.1"
    port: int = 8100
    rules_path: Path = GUARD_RULES
    api_key_env: str | None = None  # clients must send this key
    upstream_api_key_env: str | None = None  # the guard sends this key upstream
    audit_path: Path | None = None  # default: the rules' audit.path
    store_text: bool | None = None  # default: the rules' audit.store_text


def _key(variable: str | None, flag: str) -> str | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise GuardSetupError(f"{flag} {variable}: that environment variable is not set")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_guard_app(options: GuardOptions, policy: GuardPolicy | None = None):  # type: ignore[no-untyped-def]
    """The FastAPI app (not yet serving) and the rules it uses."""
    from harness.endpoint import v1_url
    from harness.guard._app import GuardApp

    rules = load_guard_rules(options.rules_path)
    api_key = _key(options.api_key_env, "--api-key-env")
    if not _is_loopback(options.host) and api_key is None:
        raise GuardSetupError(
            f"--host {options.host}: the guard binds a non-loopback address only with --api-key-env (clients must "
            "send that key); leave --host at 127.0.0.1 for local use"
        )
    audit = AuditLog(
        options.audit_path or rules.audit_path,
        rules.store_text if options.store_text is None else options.store_text,
    )
    policy = policy or GuardPolicy(rules)
    guard = GuardApp(
        rules,
        policy,
        v1_url(options.upstream, "--upstream"),
        audit,
        api_key=api_key,
        upstream_api_key=_key(options.upstream_api_key_env, "--upstream-api-key-env"),
    )
    return guard.build(), guard


def serve_guard(options: GuardOptions, console) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from harness.endpoint import EndpointError, endpoint

    app, guard = build_guard_app(options)
    try:
        served = endpoint(guard.upstream, max_retries=1, timeout_s=10).listing()
        names = ", ".join(str(e.get("id")) for e in served["data"])
        console.print(f"upstream {guard.upstream} serves: {names}")
    except EndpointError as problem:
        console.print(f"[yellow]warning[/yellow]: {problem}; requests will get 502 until it answers")
    with console.status("loading the message-risk classifier and the crisis judgement"):
        guard.policy.warm_up()
    console.print(
        f"guard listening on http://{options.host}:{options.port}/v1 (rules {guard.rules.path.name} "
        f"sha256 {guard.rules.sha256[:12]}, audit log {guard.audit.path}); Ctrl-C stops it"
    )
    try:
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning", access_log=False)
    except OSError as problem:
        raise MindgateError(f"the guard cannot listen on {options.host}:{options.port}: {problem}") from None
