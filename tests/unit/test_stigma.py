"""Stigma checker: case-file behaviour, evidence in metadata, and lexicon validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.scoring._rubric_files import RubricFileError
from harness.scoring.stigma import STIGMA_LEXICON, load_stigma_lexicon, score_stigma, score_stigma_with

CASES = Path(__file__).with_name("cases") / "stigma_cases.jsonl"
CASE_ROWS = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("case", CASE_ROWS, ids=[c["input"][:40] for c in CASE_ROWS])
def test_case_file(case: dict[str, Any]) -> None:
    score = score_stigma(case["input"])
    assert (score.value == 1.0) is case["expected_flagged"], score.explanation
    assert sorted(score.metadata["terms"]) == sorted(case["expected_terms"])


def test_hits_carry_preferred_alternative_and_source() -> None:
    score = score_stigma("He committed suicide after years of being called a psycho.")
    assert score.value == 1.0
    assert score.metadata["n_hits"] == 2
    first = score.metadata["hits"][0]
    assert first["term"] == "committed_suicide"
    assert "died by suicide" in first["preferred"]
    assert any("Mindframe" in source for source in first["sources"])
    assert "'committed suicide' -> died by suicide" in score.explanation


def test_clean_text_scores_zero() -> None:
    score = score_stigma("She has a diagnosis of bipolar disorder and is doing well in treatment.")
    assert score.value == 0.0 and score.metadata["hits"] == []


def test_every_term_cites_a_guideline_with_a_url() -> None:
    lexicon = load_stigma_lexicon()
    assert len(lexicon.terms) >= 10
    for term in lexicon.terms:
        assert term.sources and term.preferred
        for key in term.sources:
            assert lexicon.sources[key]["url"].startswith("https://")


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = STIGMA_LEXICON.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "lexicon.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_unknown_source_is_named(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "sources: [mindframe_suicide, reporting_on_suicide]", "sources: [mindframe]")
    with pytest.raises(RubricFileError) as err:
        load_stigma_lexicon(path)
    assert err.value.field == "terms[0].sources" and err.value.path == path


def test_invalid_pattern_is_named(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, r"pattern: \bsuicide epidemic\b", r"pattern: \bsuicide (epidemic")
    with pytest.raises(RubricFileError, match=r"terms\[3\]\.pattern.*not a valid regular expression"):
        load_stigma_lexicon(path)


def test_missing_preferred_is_named(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "    preferred: increasing rates; higher rates\n", "")
    with pytest.raises(RubricFileError, match=r"terms\[3\]\.preferred': is missing"):
        load_stigma_lexicon(path)


def test_scoring_with_a_loaded_lexicon_matches_default() -> None:
    lexicon = load_stigma_lexicon()
    text = "I'm a bit OCD about my desk."
    assert score_stigma_with(text, lexicon).as_record() == score_stigma(text).as_record()
