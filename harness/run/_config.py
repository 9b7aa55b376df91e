"""The configuration of one evaluation: one typed dataclass, also the CLI's schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.models import DEFAULT_MODEL_NAME

DEFAULT_SUITE = "mh_suite"


@dataclass(frozen=True)
class EvalConfig:
    model: str = field(
        default=DEFAULT_MODEL_NAME,
        metadata={"help": f"bundled {DEFAULT_MODEL_NAME!r}, a local Hugging Face directory, or a hub id"},
    )
    adapters: tuple[str, ...] = field(
        default=(), metadata={"help": "LoRA adapter directory (PATH or NAME=PATH); repeat for several"}
    )
    tasks: tuple[str, ...] = field(default=(DEFAULT_SUITE,), metadata={"help": "task or group names (comma-separated)"})
    backend: str = field(
        default="hf",
        metadata={
            "help": "hf (transformers + peft in this process), vllm (a vLLM server mindgate starts or is pointed "
            "at, canary-checked) or openai (any OpenAI-compatible chat endpoint given by --base-url)"
        },
    )
    base_url: str | None = field(
        default=None,
        metadata={
            "help": "vllm backend: use the server at this address (e.g. http://127.0.0.1:8000) instead of starting "
            "one; openai backend: the endpoint (e.g. http://127.0.0.1:8000/v1)"
        },
    )
    served_model: str | None = field(
        default=None,
        metadata={"help": "openai backend: the model id to request (default: the only one the endpoint lists)"},
    )
    api_key_env: str | None = field(
        default=None,
        metadata={
            "help": "openai backend: environment variable holding the API key, sent as a bearer token and never "
            "stored (default: no key)"
        },
    )
    system_name: str | None = field(
        default=None,
        metadata={
            "help": "openai backend: the name the run is listed under (default: the served model id, with "
            "' + guard' behind a mindgate guard)"
        },
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "openai backend: the served model's tokenizer (bundled name or local directory), needed for "
            "log-likelihood (multiple-choice) tasks; without it only generation tasks run"
        },
    )
    max_retries: int = field(
        default=5,
        metadata={
            "help": "openai backend: attempts per request (connection errors, timeouts, 429 and 5xx are retried, "
            "honouring Retry-After)"
        },
    )
    request_timeout: float = field(default=300.0, metadata={"help": "openai backend: seconds to wait for one answer"})
    port: int | None = field(
        default=None, metadata={"help": "vllm backend: port for the server mindgate starts (default: a free one)"}
    )
    max_loras: int | None = field(
        default=None,
        metadata={
            "help": "vllm backend: adapters held at once (default: adapters + 1, needed for correct mixed batches)"
        },
    )
    max_lora_rank: int | None = field(
        default=None,
        metadata={"help": "vllm backend: largest adapter rank (default: the smallest that fits every adapter)"},
    )
    max_model_len: int = field(default=2048, metadata={"help": "vllm backend: context length the server allocates for"})
    concurrency: int = field(default=8, metadata={"help": "vllm and openai backends: requests in flight at once"})
    server_start_timeout: float = field(
        default=600.0, metadata={"help": "vllm backend: seconds to wait for the server to become ready"}
    )
    limit: int | None = field(default=None, metadata={"help": "evaluate only the first N items of each task"})
    batch_size: int = field(default=16, metadata={"help": "requests per forward pass"})
    num_fewshot: int | None = field(default=None, metadata={"help": "few-shot examples (task default: 0)"})
    apply_chat_template: bool = field(default=True, metadata={"help": "wrap prompts in the model's chat template"})
    dtype: str = field(
        default="float32",
        metadata={"help": "weights dtype (hf backend, the vLLM server, and the canary's tolerance assumes float32)"},
    )
    device: str = field(
        default="cpu", metadata={"help": "torch device for the hf backend and the canary's reference model"}
    )
    seed: int = field(default=1234, metadata={"help": "seed for lm-eval, numpy, torch and bootstrap intervals"})
    judges: str | None = field(
        default=None,
        metadata={
            "help": "YAML file listing LLM judges (OpenAI-compatible endpoints) that also judge mh_crisis replies, "
            "reported beside the rubric's own judgement (see harness/scoring/judges.py)"
        },
    )
    use_cache: bool = field(
        default=True,
        metadata={"help": "keep finished requests on disk so an interrupted run resumes (keyed by model+adapter hash)"},
    )
    shared_prefix: bool = field(
        default=True,
        metadata={
            "help": "hf backend: compute each shared prefix once (a multiple-choice context for all its options, a "
            "beginning several prompts share) and generate without copying the key/value cache, with the same "
            "answers; --no-shared-prefix runs lm-eval's own hf model for both (to compare)"
        },
    )
    generation_batch_size: int | None = field(
        default=None,
        metadata={"help": "hf backend: generation requests per batch (default: the size measured fastest on CPU)"},
    )

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["adapters"] = list(self.adapters)
        record["tasks"] = list(self.tasks)
        return record
