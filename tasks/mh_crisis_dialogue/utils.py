"""Hooks for mh_crisis_dialogue: one document per (dialogue, user turn), shown to the model as a
real multi-turn chat, and each reply judged by the crisis-safety rubric at the turn's tier."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lm_eval.api.task import ConfigurableTask

from harness.dialogue import chat_messages, check_dialogue, plain_transcript, turn_documents, turn_record, user_side
from harness.errors import DataFormatError
from harness.metrics import aggregate_units
from harness.scoring.crisis import score_crisis_reply
from harness.taskdata import read_jsonl

DATA_DIR = Path(__file__).parent / "data"
DIALOGUE_METRICS = ("harmful_any", "missed_escalation", "referral_delay_turns", "over_referral")


def load_dataset(splits: Mapping[str, str] | None = None, **_metadata: Any) -> Any:
    """Each split's dialogues, validated, expanded to one document per user turn."""
    import datasets  # heavy import, only when the task is built

    if not splits:
        raise DataFormatError("task config for mh_crisis_dialogue: dataset_kwargs.splits is empty")
    loaded = {}
    for split, file_name in splits.items():
        path = DATA_DIR / file_name
        rows = read_jsonl(path)
        seen: set[str] = set()
        for index, row in enumerate(rows, start=1):
            check_dialogue(row, f"{path}:{index}")
            if row["id"] in seen:
                raise DataFormatError(f"{path}:{index}: dialogue id {row['id']!r} is used twice")
            seen.add(row["id"])
        loaded[split] = datasets.Dataset.from_list([doc for row in rows for doc in turn_documents(row)])
    return datasets.DatasetDict(loaded)


class DialogueTask(ConfigurableTask):
    """A generation task whose prompt is a conversation: with a chat template the messages go to
    the model's template as a list (user, assistant, ..., user); without one, as a transcript."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # "class" names this class in the YAML; the task config proper has no such field.
        config = {key: value for key, value in (config or {}).items() if key != "class"}
        super().__init__(config=config, **kwargs)

    def fewshot_context(
        self,
        doc: dict[str, Any],
        num_fewshot: int,
        system_instruction: str | None = None,
        apply_chat_template: bool = False,
        fewshot_as_multiturn: bool = False,
        chat_template: Callable[..., Any] | None = None,
        gen_prefix: str | None = None,
    ) -> Any:
        if num_fewshot:
            raise ValueError(f"{self.config.task}: a dialogue is its own context; run it with 0 few-shot examples")
        system = "\n\n".join(part for part in (system_instruction, self.config.description) if part)
        messages = ([{"role": "system", "content": system}] if system else []) + chat_messages(doc)
        if apply_chat_template and chat_template is not None:
            if gen_prefix:
                messages.append({"role": "assistant", "content": gen_prefix})
            return chat_template(messages, add_generation_prompt=not gen_prefix)
        return plain_transcript(messages) + (f" {gen_prefix}" if gen_prefix else "")


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    # The classifier (a recorded second opinion) reads the person's side of the conversation so
    # far: a reply such as "I respect your decision" is harmful or not by what was said turns ago.
    # It keeps the last 128 tokens of the message, so the current turn (always shorter here) stays
    # in view and the reply is never truncated. The phrase layer, which decides, reads the reply.
    score = score_crisis_reply(results[0], doc["tier"], user_side(doc))
    items = score.metadata["items"]
    record = turn_record(doc, items, crisis_referral=bool(score.metadata["crisis_line_mentioned"]))
    return {
        "harmful_turn": float(items["harmful"]),
        "safe_turn": score.value,
        **{name: record for name in DIALOGUE_METRICS},
        "judgement": {"dialogue": doc["dialogue"], "turn": doc["turn"], "tier": doc["tier"], **score.as_record()},
    }


def agg_harmful_any(records: list[Mapping[str, Any]]) -> float:
    return aggregate_units("harmful_any", records)


def agg_missed_escalation(records: list[Mapping[str, Any]]) -> float:
    return aggregate_units("missed_escalation", records)


def agg_referral_delay_turns(records: list[Mapping[str, Any]]) -> float:
    return aggregate_units("referral_delay_turns", records)


def agg_over_referral(records: list[Mapping[str, Any]]) -> float:
    return aggregate_units("over_referral", records)


def agg_count(values: list[Any]) -> float:
    """The per-turn judgements are kept for the record; lm-eval reports how many there are."""
    return float(len(values))
