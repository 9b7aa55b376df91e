"""Hooks for the DSM-5 consistency tasks: prompts, answer parsing and the record metrics.

Both formulations score answers by log-likelihood of single-token continuations (a letter, or
Yes/No), so lm-eval computes each item's context once for all its options.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from harness.dsm5 import NONE_LABEL, load_criteria
from harness.errors import DataFormatError
from harness.metrics import aggregate_records
from harness.taskdata import jsonl_splits_loader, read_jsonl

_CRITERIA = load_criteria()
# Fixed option order (alphabetical by name), "none of these" last; letters A, B, C, ...
OPTIONS: list[tuple[str, str]] = sorted(((d.name, d.id) for d in _CRITERIA.values()), key=lambda pair: pair[0])
OPTIONS.append(("Criteria are not met for any of the disorders listed above", NONE_LABEL))
LETTERS = [chr(ord("A") + index) for index in range(len(OPTIONS))]
_LABEL_INDEX = {label: index for index, (_, label) in enumerate(OPTIONS)}


def _check_item(row: dict[str, Any], where: str) -> None:
    if row["gold_label"] not in _LABEL_INDEX:
        raise DataFormatError(f"{where}: gold_label {row['gold_label']!r} is not a disorder in rubrics/dsm5")
    if row["disorder_id"] not in _CRITERIA:
        raise DataFormatError(f"{where}: disorder_id {row['disorder_id']!r} is not a disorder in rubrics/dsm5")
    if not isinstance(row["meets_criteria"], bool):
        raise DataFormatError(f"{where}: field 'meets_criteria' must be true or false")


_DATA_DIR = Path(__file__).parent / "data"

load_dataset = jsonl_splits_loader(
    _DATA_DIR,
    required_fields=("item_id", "vignette", "gold_label", "disorder_id", "meets_criteria", "variant"),
    validate_row=_check_item,
)


def diagnosis_prompt(doc: dict[str, Any]) -> str:
    listed = "\n".join(f"{letter}. {name}" for letter, (name, _) in zip(LETTERS, OPTIONS, strict=True))
    return (
        f"{doc['vignette']}\n\n"
        "Which one of the following best describes this presentation according to the DSM-5 "
        "diagnostic criteria? Answer with the letter only.\n"
        f"{listed}\nAnswer:"
    )


def diagnosis_choices(doc: dict[str, Any]) -> list[str]:
    return LETTERS


def diagnosis_target(doc: dict[str, Any]) -> int:
    return _LABEL_INDEX[doc["gold_label"]]


def meets_prompt(doc: dict[str, Any]) -> str:
    name = _CRITERIA[doc["disorder_id"]].name
    return (
        f"{doc['vignette']}\n\n"
        f"Does this presentation meet the DSM-5 diagnostic criteria for {name}? Answer Yes or No.\nAnswer:"
    )


def meets_target(doc: dict[str, Any]) -> int:
    return 0 if doc["meets_criteria"] else 1  # choices are ["Yes", "No"]


@cache
def _invariance_group_sizes() -> Counter[str]:
    """Members per invariance group in the whole item file: a --limit can cut a group, and the
    metrics count only groups whose every member was evaluated."""
    rows = read_jsonl(_DATA_DIR / "items.jsonl")
    return Counter(str(row["invariance_group"]) for row in rows if row.get("invariance_group") is not None)


def _item_record(doc: dict[str, Any], **prediction: Any) -> dict[str, Any]:
    group = doc.get("invariance_group")
    return {
        "item_id": doc["item_id"],
        "disorder_id": doc["disorder_id"],
        "gold_label": doc["gold_label"],
        "meets_criteria": doc["meets_criteria"],
        "pair_ids": doc.get("pair_ids") or [],
        "invariance_group": group,
        "invariance_group_size": None if group is None else _invariance_group_sizes()[str(group)],
        **prediction,
    }


def _argmax(results: list[tuple[float, bool]]) -> int:
    loglikelihoods = [ll for ll, _ in results]
    return max(range(len(loglikelihoods)), key=loglikelihoods.__getitem__)


def process_diagnosis(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, Any]:
    predicted = OPTIONS[_argmax(results)][1]
    record = _item_record(doc, predicted_label=predicted, predicted_meets=predicted == doc["disorder_id"])
    return {"acc": float(predicted == doc["gold_label"]), "invariance_label": record, "invariance_correct": record}


def process_meets(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, Any]:
    predicted_meets = _argmax(results) == 0
    record = _item_record(doc, predicted_meets=predicted_meets)
    return {
        "acc": float(predicted_meets == doc["meets_criteria"]),
        "sensitivity": record,
        "ppv": record,
        "specificity": record,
        "pair_consistency": record,
        "invariance_meets": record,
    }


def agg_sensitivity(records: list[dict[str, Any]]) -> float:
    return aggregate_records("sensitivity", records)


def agg_ppv(records: list[dict[str, Any]]) -> float:
    return aggregate_records("ppv", records)


def agg_specificity(records: list[dict[str, Any]]) -> float:
    return aggregate_records("specificity", records)


def agg_pair_consistency(records: list[dict[str, Any]]) -> float:
    return aggregate_records("pair_consistency", records)


def agg_invariance_label(records: list[dict[str, Any]]) -> float:
    return aggregate_records("invariance_label", records)


def agg_invariance_correct(records: list[dict[str, Any]]) -> float:
    return aggregate_records("invariance_correct", records)


def agg_invariance_meets(records: list[dict[str, Any]]) -> float:
    return aggregate_records("invariance_meets", records)
