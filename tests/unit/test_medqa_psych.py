"""The MedQA psychiatry subset: shipped files, row format and the selection rule."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "tasks" / "mh_clinical_mcq" / "data"
SHIPPED_FILES = ("medqa_psych_test.jsonl", "medqa_psych_review.csv", "LICENSE-medqa", "SOURCE-medqa.txt")
SHARED_MEDQA = REPO.parent / "shared" / "data" / "medqa-usmle"
needs_shared = pytest.mark.skipif(
    not SHARED_MEDQA.is_dir(), reason=f"shared data folder {SHARED_MEDQA} is absent (the build's input)"
)


def _load_builder() -> ModuleType:
    # scripts/ is not a package; register the module so its dataclasses resolve their types.
    spec = importlib.util.spec_from_file_location("build_medqa_psych", REPO / "scripts" / "build_medqa_psych.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _shipped_rows() -> list[dict[str, object]]:
    lines = (DATA_DIR / "medqa_psych_test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _review_rows() -> list[dict[str, str]]:
    with (DATA_DIR / "medqa_psych_review.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _row(question: str, choices: tuple[str, ...], answer: int) -> object:
    return builder.MedqaRow(index=0, question=question, choices=choices, answer=answer)


@needs_shared
def test_shipped_files_equal_a_fresh_build(tmp_path: Path) -> None:
    builder.build(SHARED_MEDQA, tmp_path)
    for name in SHIPPED_FILES:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
            f"{name} differs from a fresh build: run python scripts/build_medqa_psych.py"
        )


@needs_shared
def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    builder.build(SHARED_MEDQA, tmp_path / "first")
    builder.build(SHARED_MEDQA, tmp_path / "second")
    for name in SHIPPED_FILES:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_shipped_rows_are_well_formed() -> None:
    rows = _shipped_rows()
    assert rows, "medqa_psych_test.jsonl is empty"
    for row in rows:
        where = f"medqa_psych_test.jsonl id={row.get('id')}"
        assert set(row) == {"id", "question", "subject", "choices", "answer", "kept_because"}, where
        assert re.fullmatch(r"medqa-test-\d{4}", str(row["id"])), where
        assert row["subject"] == "medqa_psychiatry", where
        assert isinstance(row["question"], str) and row["question"].strip(), where
        choices = row["choices"]
        assert isinstance(choices, list) and len(choices) == 4, where
        assert all(isinstance(choice, str) and choice.strip() for choice in choices), where
        assert isinstance(row["answer"], int) and 0 <= row["answer"] < 4, where
        assert str(row["kept_because"]).split(":")[0] in {"override", "answer", "ask", "options", "opening"}, where
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "duplicate ids in medqa_psych_test.jsonl"


def test_every_kept_item_is_in_the_review_with_kept_yes() -> None:
    review = {row["id"]: row for row in _review_rows()}
    shipped = _shipped_rows()
    for row in shipped:
        assert row["id"] in review, f"{row['id']} is shipped but missing from medqa_psych_review.csv"
        assert review[row["id"]]["kept"] == "yes", row["id"]
        assert review[row["id"]]["clause"] == row["kept_because"], row["id"]
    assert {row["id"] for row in shipped} == {i for i, row in review.items() if row["kept"] == "yes"}


@needs_shared
def test_review_lists_every_keyword_candidate() -> None:
    candidates = (SHARED_MEDQA / "psych_keyword_candidates.jsonl").read_text(encoding="utf-8").splitlines()
    candidate_ids = {f"medqa-test-{json.loads(line)['line_index']:04d}" for line in candidates}
    flagged = {row["id"] for row in _review_rows() if row["keyword_candidate"] == "yes"}
    assert flagged == candidate_ids
    assert len(candidate_ids) == 122


# Hand-picked rows, one per clause, read by a person: (index in the test file, kept, clause).
HAND_PICKED = [
    (105, True, "answer:diagnosis"),  # borderline personality disorder after a suicide attempt
    (54, True, "answer:adverse-effect"),  # tardive dyskinesia on haloperidol
    (442, True, "ask:defense-mechanism"),  # asks which defence mechanism: projection
    (99, True, "options:psychiatric-3-of-4"),  # which drug does NOT cause galactorrhoea: 3 antipsychotics
    (637, True, "opening:setting"),  # brought to a psychiatry office; asks about her disorder (autism)
    (21, False, "drop:keyword-only-incidental"),  # lithium only as a wrong option; 22q11 deletion
    (1171, False, "drop:keyword-only-incidental"),  # "psychiatric symptoms" of B12 deficiency: biochemistry
    (195, False, "drop:keyword-only-incidental"),  # study of autism and folic acid: recall bias
    (410, True, "override:keep"),  # lithium-induced nephrogenic diabetes insipidus
    (777, False, "override:drop"),  # fibromyalgia treated with an antidepressant
]


@needs_shared
@pytest.mark.parametrize(("index", "kept", "clause"), HAND_PICKED)
def test_rule_decides_hand_picked_rows(index: int, kept: bool, clause: str) -> None:
    row = builder.load_test_rows(SHARED_MEDQA)[index]
    decision = builder.decide(row)
    assert (decision.kept, decision.clause) == (kept, clause), decision.evidence


def test_incidental_keyword_in_the_vignette_is_dropped() -> None:
    row = _row(
        "A 60-year-old anxious-appearing man with a history of depression has atrial fibrillation. "
        "Which of the following drugs is most likely to prolong his QT interval?",
        ("Amiodarone", "Digoxin", "Metoprolol", "Diltiazem"),
        0,
    )
    assert builder.decide_by_rule(row) == builder.Decision(False, "drop:keyword-only-incidental", "")


def test_answer_clause_names_group_and_term() -> None:
    row = _row(
        "A 25-year-old man hears voices. Which is the most likely diagnosis?", ("Schizophreniform disorder",) * 4, 0
    )
    assert builder.decide_by_rule(row) == builder.Decision(True, "answer:diagnosis", "schizophreni")


def test_opening_clause_needs_a_patient_not_a_study() -> None:
    study = _row("Researchers study patients with autism. Which bias is most likely?", ("A", "B", "C", "D"), 0)
    patient = _row("A 9-year-old boy with autism is brought in. Which is true?", ("A", "B", "C", "D"), 0)
    assert not builder.decide_by_rule(study).kept
    assert builder.decide_by_rule(patient).clause == "opening:diagnosis"


def test_terms_match_at_word_start_only() -> None:
    groups = builder.TERM_GROUPS
    assert builder.find_term("Respiratory depression", groups) is None
    assert builder.find_term("Post-traumatic stress disorder", groups) == ("diagnosis", "post traumatic stress")
    assert builder.find_term("Nonmanic course", groups) is None


def test_final_ask_ignores_a_table_after_the_question() -> None:
    question = "He has low sodium. Which findings are most likely?\n $$$ Serum osmolality %%% Urine sodium $$$"
    assert builder.final_ask(question) == "Which findings are most likely?"


def test_clean_text_removes_only_an_unmatched_trailing_quote() -> None:
    assert builder.clean_text('Factitious disorder imposed on another\n"') == "Factitious disorder imposed on another"
    assert builder.clean_text('He said "stop"') == 'He said "stop"'


def test_rule_document_lists_exactly_the_overrides() -> None:
    text = (DATA_DIR / "MEDQA_RULE.md").read_text(encoding="utf-8")
    section = text.split("## Overrides", 1)[1].split("\n## ", 1)[0]
    documented = {int(number) for number in re.findall(r"medqa-test-(\d{4})", section)}
    assert documented == set(builder.OVERRIDES)
