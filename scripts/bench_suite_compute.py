"""How far the suite's wall time is from what this CPU can compute: `make bench-suite-compute`.

Reads the fast run of the last `make bench-suite` (reports/bench/hf-suite.json and the run's
per-item samples), counts the tokens the bundled model must process, turns them into floating-point
operations and sets them against two measured rates of this machine:

- the peak of a large float32 matrix product (``torch.mm`` of 4096 x 4096 matrices, the
  fastest thing the CPU does with the model's arithmetic);
- the model's own forward pass on log-likelihood-shaped input (8 rows x 512 tokens, logits of the
  last position only), which is what the log-likelihood stage runs.

Counted work (a lower bound: padding, finished rows that a batch still carries, and the masked
attention cells of a packed row are not counted):

- log-likelihood: the trie nodes of the shared-prefix plan (``pack_rows``, rows of 512 nodes,
  planned per task; the run plans the whole suite at once), each node attending to its ancestors,
  vocabulary logits for the nodes that predict an option's tokens; this is what the hf backend
  computes, and less than lm-eval's own path (every option with its whole context);
- generation: each prompt once (prefill) plus each generated token, with vocabulary logits for
  each generated token; sampled tasks count every sample.

Per token, the layers cost 2 x (parameters outside the embedding) operations, attention 4 x hidden
size x the positions it reads per layer, and the vocabulary projection 2 x hidden x vocabulary.
Writes reports/bench/hf-suite-compute.{md,json}. Needs the run's samples folder (a temporary
folder named in the ignored file reports/bench/.hf-suite-samples.json): run it after `make bench-suite`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from harness.backends._prefix_plan import ScoredSequence, pack_rows, scored_sequence  # noqa: E402
from scripts.bench_suite import SAMPLES_POINTER  # noqa: E402

GEMM_SIZE = 4096
ROW_TOKENS = 512  # the hf backend's default row size
MAX_LENGTH = 8192  # the bundled model's context window
FORWARD_ROWS, FORWARD_TOKENS = 8, 512


class ModelShape:
    """The arithmetic of one forward pass of a decoder, from its parameters and config."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.hidden = int(config.hidden_size)
        self.layers = int(config.num_hidden_layers)
        self.vocab = int(config.vocab_size)
        embedding = model.get_input_embeddings().weight.numel()
        self.layer_params = sum(p.numel() for p in model.parameters()) - embedding

    def tokens_flops(self, first: int, count: int) -> float:
        """Layer and attention operations of `count` tokens at positions first .. first + count - 1."""
        positions = count * first + count * (count + 1) / 2  # key positions read, summed over the tokens
        return 2.0 * self.layer_params * count + 4.0 * self.hidden * self.layers * positions

    def row_flops(self, positions: Sequence[int]) -> float:
        """Layer and attention operations of a packed row's nodes at these positions (ancestors only)."""
        read = sum(position + 1 for position in positions)
        return 2.0 * self.layer_params * len(positions) + 4.0 * self.hidden * self.layers * read

    def logits_flops(self, kept: int) -> float:
        return 2.0 * self.hidden * self.vocab * kept


def _samples(samples_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(samples_dir.glob("*.jsonl"))
    }


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def count_work(samples: dict[str, list[dict[str, Any]]], encode: Any, shape: ModelShape) -> dict[str, dict[str, Any]]:
    """Per task: kind, tokens processed, kept logits and operations (see the module docstring)."""
    tasks: dict[str, dict[str, Any]] = {}
    for task, rows in samples.items():
        if not rows:
            continue
        choice = isinstance(rows[0]["resps"][0][0], list)
        tokens = kept = 0
        flops = 0.0
        sequences: list[ScoredSequence] = []
        for row in rows:
            if choice:
                sequences.extend(
                    scored_sequence(encode(context), encode(continuation), MAX_LENGTH)
                    for context, continuation in row["arguments"]
                )
            else:
                for argument, responses in zip(row["arguments"], row["resps"], strict=False):
                    n_prompt = len(encode(argument[0]))
                    flops += shape.tokens_flops(0, n_prompt)
                    tokens += n_prompt
                    for reply in _strings(responses):
                        n_reply = len(encode(reply))
                        flops += shape.tokens_flops(n_prompt, n_reply) + shape.logits_flops(n_reply)
                        tokens += n_reply
                        kept += n_reply
        for packed in pack_rows(sequences, ROW_TOKENS):
            flops += shape.row_flops(packed.positions) + shape.logits_flops(packed.n_needed)
            tokens += len(packed)
            kept += packed.n_needed
        tasks[task] = {
            "kind": "log-likelihood" if choice else "generation",
            "items": len(rows),
            "tokens": tokens,
            "kept_logits": kept,
            "gflop": flops / 1e9,
        }
    return tasks


def measure_gemm(repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 square matrix product over a few repeats."""
    import torch

    a = torch.randn(GEMM_SIZE, GEMM_SIZE)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2.0 * GEMM_SIZE**3 / best / 1e9


def measure_forward(model: Any, shape: ModelShape, repeats: int = 3) -> float:
    """Best GFLOP/s of the model's forward pass on log-likelihood-shaped input."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, shape.vocab, (FORWARD_ROWS, FORWARD_TOKENS), generator=generator)
    flops = FORWARD_ROWS * (shape.tokens_flops(0, FORWARD_TOKENS) + shape.logits_flops(1))
    best = float("inf")
    with torch.inference_mode():
        model(input_ids=ids, logits_to_keep=1)
        for _ in range(repeats):
            started = time.perf_counter()
            model(input_ids=ids, logits_to_keep=1)
            best = min(best, time.perf_counter() - started)
    return flops / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=PROJECT / "reports" / "bench" / "hf-suite.json")
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "bench")
    args = parser.parse_args()
    if not args.bench.is_file():
        raise SystemExit(f"{args.bench}: not found; run `make bench-suite` first")
    bench = json.loads(args.bench.read_text())
    pointer = args.bench.parent / SAMPLES_POINTER
    try:
        samples_dir: Path | None = Path(json.loads(pointer.read_text())["fast"])
    except (OSError, ValueError, KeyError, TypeError):
        samples_dir = None
    if samples_dir is None or not samples_dir.is_dir():
        raise SystemExit(
            f"{pointer}: missing, unreadable, or naming samples that are gone (the last `make bench-suite` run's "
            "samples live in a temporary folder); run `make bench-suite` again"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models import ensure_default_model

    model_dir = ensure_default_model().path
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    shape = ModelShape(model)

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    tasks = count_work(_samples(samples_dir), encode, shape)
    gemm = measure_gemm()
    forward = measure_forward(model, shape)
    stages_s = (bench["fast"].get("timing") or {}).get("stages_s", {})
    stage_keys = {"log-likelihood": "loglikelihood", "generation": "generation"}
    stages: dict[str, dict[str, Any]] = {}
    for kind, key in stage_keys.items():
        gflop = sum(t["gflop"] for t in tasks.values() if t["kind"] == kind)
        measured = stages_s.get(key)
        stages[kind] = {
            "tokens": sum(t["tokens"] for t in tasks.values() if t["kind"] == kind),
            "gflop": gflop,
            "measured_s": measured,
            "achieved_gflops": gflop / measured if measured else None,
            "at_gemm_peak_s": gflop / gemm,
            "at_forward_rate_s": gflop / forward,
        }
    result = {
        "torch_threads": torch.get_num_threads(),
        "gemm_gflops": gemm,
        "forward_gflops": forward,
        "model": {"layer_params": shape.layer_params, "hidden": shape.hidden, "vocab": shape.vocab},
        "suite_wall_s": bench["fast"]["process_s"],
        "goal_s": bench.get("goal_s"),
        "stages": stages,
        "tasks": tasks,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hf-suite-compute.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "hf-suite-compute.md").write_text(markdown(result))
    print(markdown(result))


def _min(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def markdown(r: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {kind} | {s['tokens']:,} | {s['gflop']:,.0f} | {_min(s['measured_s'])} | "
        f"{(s['achieved_gflops'] or 0):.0f} | {_min(s['at_forward_rate_s'])} | {_min(s['at_gemm_peak_s'])} |"
        for kind, s in r["stages"].items()
    )
    floor_s = sum(s["at_gemm_peak_s"] for s in r["stages"].values())
    forward_floor_s = sum(s["at_forward_rate_s"] for s in r["stages"].values())
    task_rows = "\n".join(
        f"| {name} | {t['kind']} | {t['items']} | {t['tokens']:,} | {t['gflop']:,.0f} |"
        for name, t in r["tasks"].items()
    )
    return f"""# What the whole suite asks of this CPU

scripts/bench_suite_compute.py (`make bench-suite-compute`), on the fast run of
reports/bench/hf-suite.json. {r["torch_threads"]} torch threads.

- float32 matrix product ({GEMM_SIZE} x {GEMM_SIZE}), best of 5: **{r["gemm_gflops"]:.0f} GFLOP/s**
- the model's forward pass ({FORWARD_ROWS} rows x {FORWARD_TOKENS} tokens, last logits only), best of 3:
  **{r["forward_gflops"]:.0f} GFLOP/s**
- the suite's counted work at the forward pass's rate: **{forward_floor_s / 60:.1f} min**; at the matrix
  product's peak: **{floor_s / 60:.1f} min**; the whole run took {r["suite_wall_s"] / 60:.1f} min
  (goal {(r["goal_s"] or 0) // 60} min)

| stage | tokens | GFLOP | measured min | achieved GFLOP/s | min at forward rate | min at GEMM peak |
|---|---:|---:|---:|---:|---:|---:|
{rows}

Counted work is a lower bound (no padding, no masked attention cells, no finished rows still in a batch). Per task:

| task | stage | items | tokens | GFLOP |
|---|---|---:|---:|---:|
{task_rows}
"""


if __name__ == "__main__":
    main()
