"""The vllm backend: one server for the base model and every adapter, the canary, then one run
per served name (base first), each through lm-eval's completions client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.backends import (
    BASE_NAME,
    CanaryReport,
    ServedAdapter,
    ServerClient,
    ServerOptions,
    VllmServer,
    lora_rank_for,
    normalise_base_url,
    require_pass,
    run_canary,
    terminate_on_sigterm,
    vllm_version,
)
from harness.errors import MindgateError, ServerError
from harness.models import ResolvedAdapter, ResolvedModel
from harness.run._config import EvalConfig
from harness.run._lmeval import request_cache_path

EvaluateOne = Callable[..., Path]


def evaluate_served(
    config: EvalConfig,
    model: ResolvedModel,
    adapters: list[ResolvedAdapter],
    manager: Any,
    console: Console,
    runs_root: Path,
    evaluate_one: EvaluateOne,
) -> list[Path]:
    from harness.run._evaluate import ServedTarget

    _check_names(adapters)
    run_dirs: list[Path] = []
    with terminate_on_sigterm(), served_model(config, model, adapters, runs_root, console) as (client, server):
        base_name = _base_name(client, server)
        lora_enabled = bool(adapters) or any(name != base_name for name in client.model_ids())
        report = _canary(config, client, model, adapters, base_name, console)
        server_record = {
            "base_url": client.base_url,
            "started_by_mindgate": server is not None,
            "command": server.command() if server else None,
            "vllm_version": vllm_version(),
            "base_served_name": base_name,
            "canary": report.as_record(),
        }
        targets: list[ResolvedAdapter | None] = [None, *adapters]
        for adapter in targets:
            single = replace(config, adapters=(f"{adapter.name}={adapter.path}",) if adapter else ())
            served = ServedTarget(
                base_url=client.base_url,
                name=adapter.name if adapter else base_name,
                serial_loglikelihood=lora_enabled,
                record={**server_record, "served_name": adapter.name if adapter else base_name},
                log_path=server.log_path if server else None,
            )
            try:
                run_dirs.append(evaluate_one(single, model, adapter, manager, console, runs_root, served))
            except (MindgateError, KeyboardInterrupt):
                raise
            except Exception as exc:
                raise _explain_failure(exc, client, server, request_cache_path(single, model, adapter)) from exc
    return run_dirs


def serve(config: EvalConfig, console: Console) -> None:
    """``mindgate serve``: start the server with the base model and adapters, run the canary,
    then keep serving until Ctrl-C (or SIGTERM), and stop it cleanly."""
    from harness.models import check_adapter_fits, resolve_adapter, resolve_model
    from harness.paths import runs_dir

    model = resolve_model(config.model)
    adapters = [resolve_adapter(spec) for spec in config.adapters]
    for adapter in adapters:
        check_adapter_fits(adapter, model.path)
    _check_names(adapters)
    with (
        terminate_on_sigterm(),
        served_model(replace(config, base_url=None), model, adapters, runs_dir(), console) as (
            client,
            server,
        ),
    ):
        assert server is not None  # base_url=None: always a server started here
        _canary(config, client, model, adapters, BASE_NAME, console)
        names = ", ".join([BASE_NAME, *(a.name for a in adapters)])
        console.print(
            f"serving {names} at {client.base_url}/v1 (OpenAI-compatible); Ctrl-C stops it.\n"
            f"  score against it:  mindgate eval --backend vllm --base-url {client.base_url} --model {config.model}"
            + "".join(f" --adapter {a.name}={a.path}" for a in adapters)
        )
        while server.is_running():
            time.sleep(1.0)
        raise ServerError(
            f"the vLLM server exited with code {server.exit_code()}; last lines of {server.log_path}:\n"
            + server.log_tail()
        )


@contextlib.contextmanager
def served_model(
    config: EvalConfig,
    model: ResolvedModel,
    adapters: list[ResolvedAdapter],
    runs_root: Path,
    console: Console,
) -> Iterator[tuple[ServerClient, VllmServer | None]]:
    """A client for the server at --base-url (adapters it lacks are loaded at run time), or for a
    server started here and stopped when the block ends, however it ends."""
    served_adapters = tuple(ServedAdapter(a.name, a.path, a.rank) for a in adapters)
    if config.base_url:
        client = ServerClient(normalise_base_url(config.base_url), timeout_s=60)
        listed = client.model_ids()  # unreachable -> ServerError naming the address
        for adapter in served_adapters:
            if adapter.name not in listed:
                client.load_adapter(adapter.name, str(adapter.path))
        console.print(f"using the model server at {client.base_url} (serving {', '.join(client.model_ids())})")
        yield client, None
        return
    lora_rank_for(served_adapters, config.max_lora_rank)  # refuse an oversized adapter before starting
    log_path = runs_root / ".server-logs" / f"vllm-{time.strftime('%Y%m%dT%H%M%S')}.log"
    options = ServerOptions(
        model_path=model.path,
        log_path=log_path,
        adapters=served_adapters,
        port=config.port,
        max_loras=config.max_loras,
        max_lora_rank=config.max_lora_rank,
        max_model_len=config.max_model_len,
        dtype=config.dtype,
        start_timeout_s=config.server_start_timeout,
    )
    with console.status("starting the vLLM server") as status:
        server = VllmServer(
            options, on_wait=lambda s: status.update(f"starting the vLLM server ({s:.0f} s; log: {log_path})")
        )
        server.start()
    try:
        console.print(f"vLLM server ready at {server.base_url} (log: {log_path})")
        yield ServerClient(server.base_url, timeout_s=600), server
    finally:
        server.stop()
        console.print("vLLM server stopped")


def _canary(
    config: EvalConfig,
    client: ServerClient,
    model: ResolvedModel,
    adapters: list[ResolvedAdapter],
    base_name: str,
    console: Console,
) -> CanaryReport:
    with console.status("canary: checking that every served name is the model it claims to be"):
        report = run_canary(
            client, model.path, {a.name: a.path for a in adapters}, device=config.device, base_name=base_name
        )
    table = Table(title=f"adapter-applied canary ({report.seconds:.1f} s)")
    for column in ("check", "served name", "result", "evidence"):
        table.add_column(column)
    for check in report.checks:
        verdict = "[green]pass[/green]" if check.passed else "[bold red]FAIL[/bold red]"
        table.add_row(check.check, check.model, verdict, check.detail)
    console.print(table)
    require_pass(report, client.base_url)
    return report


def _base_name(client: ServerClient, server: VllmServer | None) -> str:
    if server is not None:
        return BASE_NAME
    roots = client.model_roots()
    listed = list(roots)
    if BASE_NAME in roots:
        return BASE_NAME
    if len(listed) == 1:
        return listed[0]
    raise ServerError(
        f"the server at {client.base_url} serves {listed}; start it with --served-model-name {BASE_NAME} "
        "so mindgate knows which name is the base model"
    )


def _check_names(adapters: list[ResolvedAdapter]) -> None:
    seen: set[str] = set()
    for adapter in adapters:
        if adapter.name == BASE_NAME:
            raise MindgateError(
                f"--adapter {adapter.name}={adapter.path}: {BASE_NAME!r} names the base model; rename it"
            )
        if adapter.name in seen:
            raise MindgateError(f"two adapters are named {adapter.name!r}; give each --adapter NAME=PATH a unique name")
        seen.add(adapter.name)


def _explain_failure(
    exc: Exception, client: ServerClient, server: VllmServer | None, cache: Path
) -> MindgateError | Exception:
    """A failure mid-run is the server's when it has died or stopped answering; say so, and say
    that finished requests are cached, so running the same command again resumes."""
    resume = f"finished requests are kept in {cache}*; run the same command again to resume"
    healthy = ServerClient(client.base_url, timeout_s=10).is_healthy()
    if server is not None and not healthy:
        deadline = time.monotonic() + 30  # a dead engine takes its API server down within seconds
        while server.is_running() and time.monotonic() < deadline:
            time.sleep(0.5)
    if server is not None and not server.is_running():
        return ServerError(
            f"the vLLM server exited with code {server.exit_code()} during the run; {resume}. "
            f"Last lines of {server.log_path}:\n{server.log_tail()}"
        )
    if not healthy:
        return ServerError(f"the model server at {client.base_url} stopped answering during the run; {resume}")
    return exc
