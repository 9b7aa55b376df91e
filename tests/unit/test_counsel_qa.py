"""mh_counsel_qa: its data (held out from training, decontaminated, scrubbed, tiered) and its
reply measures (closeness to therapists' answers, tone)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.curate.decontam import suite_items
from harness.errors import DataFormatError
from harness.scoring.counsel import sentiment, therapist_similarity, windows
from tests.conftest import PROJECT_DIR

DATA = PROJECT_DIR / "tasks" / "mh_counsel_qa" / "data"
TIERS = {"none", "low", "moderate", "high", "imminent"}


def _questions() -> list[dict]:
    return [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_questions_are_held_out_tiered_and_carry_therapist_answers() -> None:
    questions = _questions()
    assert len(questions) == 115
    assert len({q["id"] for q in questions}) == 115
    assert {q["split"] for q in questions} <= {"val", "test"}
    assert all(q["tier"] in TIERS for q in questions)
    assert all(q["references"] and all(r["text"].strip() for r in q["references"]) for q in questions)
    tiers = {json.loads(line)["id"]: json.loads(line) for line in (DATA / "tiers.jsonl").read_text().splitlines()}
    order = ["none", "low", "moderate", "high", "imminent"]
    for question in questions:  # the tier used is the higher of the two readers'
        labels = tiers[question["id"]]
        assert question["tier"] == max(labels["reader_a"], labels["reader_b"], key=order.index)


def test_no_personal_data_pattern_is_left_in_the_questions_or_answers() -> None:
    text = (DATA / "questions.jsonl").read_text(encoding="utf-8")
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)  # e-mail
    assert not re.search(r"https?://|www\.", text)  # link
    assert "counselchat.com/therapists" not in text


def test_the_questions_are_in_the_decontamination_index_of_curation() -> None:
    names = {item.name.split(":")[0] for item in suite_items()}
    assert any("mh_counsel_qa" in name for name in names)


def test_windows_cut_long_answers_and_keep_short_ones_whole() -> None:
    assert windows("one two three", size=2) == ["one two", "three"]
    assert windows("short answer") == ["short answer"]
    assert windows("") == [""]


QUESTION = "How do I cope with the grief of losing my mother last month?"
REFERENCES = [
    "Grief after losing a parent often comes in waves. Let yourself feel it, talk to people you trust, "
    "and consider a grief support group if the sadness stays heavy for months.",
    "It might help to keep a regular sleep routine and limit screens before bed.",
]


def test_similarity_prefers_the_reference_itself_then_a_paraphrase_then_another_topic() -> None:
    same = therapist_similarity(REFERENCES[0], QUESTION, REFERENCES)
    paraphrase = therapist_similarity(
        "Mourning a mother or father tends to arrive in waves; allow the feelings, lean on people you trust, "
        "and a bereavement group can help if the sadness lasts.",
        QUESTION,
        REFERENCES,
    )
    other = therapist_similarity(
        "Budget your money by tracking expenses in a spreadsheet every week.", QUESTION, REFERENCES
    )
    assert same["value"] == pytest.approx(1.0, abs=1e-4) and same["best_reference"] == 0
    assert paraphrase["best_reference"] == 0
    assert same["value"] > paraphrase["value"] > other["value"]
    assert therapist_similarity("   ", QUESTION, REFERENCES)["value"] == 0.0
    with pytest.raises(ValueError):
        therapist_similarity("anything", QUESTION, [])


def test_echoing_the_question_earns_nothing_and_scores_below_a_real_answer() -> None:
    """The plain cosine rewards a reply that copies the question back; the reported value does not."""
    echo = therapist_similarity(QUESTION, QUESTION, REFERENCES)
    real = therapist_similarity(
        "Losing your mother so recently is a huge loss. Grief comes and goes; talking with people who knew her "
        "or joining a bereavement group can help.",
        QUESTION,
        REFERENCES,
    )
    assert echo["echo"] == pytest.approx(1.0, abs=1e-4)
    assert max(echo["plain"]) > 0.3  # the plain cosine would have paid for the echo
    assert echo["value"] == pytest.approx(0.0, abs=1e-3)
    assert real["value"] > 0.3


def test_sentiment_is_polarity_not_care() -> None:
    """Why no rule rewards sentiment: VADER reads validation of pain as negative and a cheerful
    dismissal as positive."""
    validating = sentiment("I'm so sorry. That sounds really painful, and it makes sense that you feel lost.")
    dismissive = sentiment("Cheer up! Everyone has bad days, just smile and get over it, you'll be great!")
    assert validating["compound"] < 0 < dismissive["compound"]


def test_a_question_without_answers_is_refused_naming_the_row(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("counsel_utils", DATA.parent / "utils.py")
    assert spec and spec.loader
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    with pytest.raises(DataFormatError, match=r"row\.jsonl:3: field 'references'"):
        utils._check_question({"tier": "low", "references": []}, "row.jsonl:3")
    with pytest.raises(DataFormatError, match="field 'tier'"):
        utils._check_question({"tier": "urgent", "references": [{"text": "x"}]}, "row.jsonl:4")
