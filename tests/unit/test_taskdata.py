import json
from pathlib import Path

import pytest

from harness.errors import DataFormatError
from harness.taskdata import jsonl_splits_loader, read_jsonl


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "items.jsonl", [json.dumps({"id": 1}), "{not json", json.dumps({"id": 3})])
    with pytest.raises(DataFormatError, match=r"items\.jsonl:2: not valid JSON"):
        read_jsonl(data)


def test_missing_field_is_named(tmp_path: Path) -> None:
    data = _write(tmp_path / "items.jsonl", [json.dumps({"id": 1, "question": "q"}), json.dumps({"id": 2})])
    with pytest.raises(DataFormatError, match=r"items\.jsonl:2: missing field\(s\) question"):
        read_jsonl(data, required_fields=("id", "question"))


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="data file is missing"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_loader_builds_splits_and_runs_row_checks(tmp_path: Path) -> None:
    _write(tmp_path / "test.jsonl", [json.dumps({"id": "a", "answer": 9})])

    def check(row: dict, where: str) -> None:
        if row["answer"] > 3:
            raise DataFormatError(f"{where}: field 'answer' out of range")

    with pytest.raises(DataFormatError, match=r"test\.jsonl:1: field 'answer' out of range"):
        jsonl_splits_loader(tmp_path, ("id",), check)(splits={"test": "test.jsonl"}, version=1.0)


def test_shipped_mcq_data_loads_with_expected_sizes() -> None:
    import importlib.util

    utils_path = Path(__file__).resolve().parents[2] / "tasks" / "mh_clinical_mcq" / "utils.py"
    spec = importlib.util.spec_from_file_location("mcq_utils", utils_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dataset = module.load_dataset(
        splits={"test": "mmlu_professional_psychology_test.jsonl", "dev": "mmlu_professional_psychology_dev.jsonl"}
    )
    assert len(dataset["test"]) == 612
    assert len(dataset["dev"]) == 5
    assert set(dataset["test"][0]) >= {"id", "question", "choices", "answer"}
