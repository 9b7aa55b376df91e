"""Sample replies of a model (and optionally a LoRA adapter) to a file of user messages.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/sample_replies.py --messages FILE.jsonl --out OUT.jsonl \
        [--model smollm2-135m-instruct] [--adapter DIR] [--samples 3] [--temperature 0.8] [--top-p 0.95] \
        [--greedy] [--seed 0] [--max-new-tokens 192] [--batch-size 8]

Each input line needs `id` and `text` (other fields are copied into `message`). Each output line
records the message, the sample index, the reply and where it came from (model and adapter content
hashes, decoding parameters, seed), so a labelled pair can always be traced to the weights that
wrote it. The chat template is applied as `mindgate eval` applies it. Output is appended and
finished (message, sample) pairs are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _done(out: Path) -> set[tuple[str, int]]:
    if not out.is_file():
        return set()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(row["message"]["id"], row["sample"]) for row in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=3, help="replies per message")
    parser.add_argument("--greedy", action="store_true", help="one greedy reply per message (ignores --samples)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models import resolve_adapter, resolve_model

    model_info = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_info.path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_info.path, dtype=torch.float32)
    adapter_record: dict[str, Any] | None = None
    if args.adapter is not None:
        from peft import PeftModel

        adapter = resolve_adapter(f"adapter={args.adapter}")
        model = PeftModel.from_pretrained(model, str(adapter.path))
        adapter_record = {"name": args.adapter.name, "content_hash": adapter.content_hash}
    model.eval()
    samples = 1 if args.greedy else args.samples
    messages = [json.loads(line) for line in args.messages.read_text(encoding="utf-8").splitlines() if line.strip()]
    done = _done(args.out)
    todo = [(m, k) for m in messages for k in range(samples) if (m["id"], k) not in done]
    decoding = {
        "greedy": args.greedy,
        "temperature": None if args.greedy else args.temperature,
        "top_p": None if args.greedy else args.top_p,
        "max_new_tokens": args.max_new_tokens,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("sampling"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn()) as progress, args.out.open("a") as handle:
        bar = progress.add_task("replies", total=len(todo))
        for start in range(0, len(todo), args.batch_size):
            batch = todo[start : start + args.batch_size]
            # One seed per batch position keeps a resumed run's samples equal to an uninterrupted one's
            # only for the same batch layout; the seed is recorded with every row.
            torch.manual_seed(args.seed + start)
            prompts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": m["text"]}], tokenize=False, add_generation_prompt=True
                )
                for m, _ in batch
            ]
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                output = model.generate(
                    **encoded,
                    do_sample=not args.greedy,
                    temperature=args.temperature if not args.greedy else None,
                    top_p=args.top_p if not args.greedy else None,
                    max_new_tokens=args.max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            replies = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            for (message, k), reply in zip(batch, replies, strict=True):
                row = {
                    "message": message,
                    "sample": k,
                    "reply": reply.strip(),
                    "model": {"name": model_info.name, "content_hash": model_info.content_hash},
                    "adapter": adapter_record,
                    "decoding": decoding,
                    "seed": args.seed + start,
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            progress.advance(bar, len(batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
