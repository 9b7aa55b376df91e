"""Hooks for the mh_clinical_mcq task configs."""

from pathlib import Path
from typing import Any

from harness.errors import DataFormatError
from harness.taskdata import jsonl_splits_loader


def _check_mcq_row(row: dict[str, Any], where: str) -> None:
    choices = row["choices"]
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise DataFormatError(f"{where}: field 'choices' must be a list of at least two strings")
    if not isinstance(row["answer"], int) or not 0 <= row["answer"] < len(choices):
        raise DataFormatError(f"{where}: field 'answer' must be an index into 'choices'")


load_dataset = jsonl_splits_loader(
    Path(__file__).parent / "data",
    required_fields=("id", "question", "choices", "answer"),
    validate_row=_check_mcq_row,
)
