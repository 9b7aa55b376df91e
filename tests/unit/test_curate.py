"""Curation: personal data, duplicates, suite items, toxic and harmful targets removed; clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.curate.decontam import SuiteItem, build_index, suite_items
from harness.curate.dedup import find_duplicates
from harness.curate.pii import PiiScrubber, PiiSpan, merge_spans
from harness.curate.pipeline import CurationConfig, CurationError, curate
from harness.curate.records import ColumnSpec, read_rows
from harness.errors import DataFormatError

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def presidio() -> PiiScrubber:
    return PiiScrubber("presidio")


def _planted(name: str) -> list[dict]:
    return [json.loads(line) for line in (CASES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _covered(text: str, mention: dict, spans: list[PiiSpan]) -> bool:
    inside = {i for s in spans for i in range(s.start, s.end)}
    return all(i in inside for i in range(mention["start"], mention["end"]) if text[i].isalnum())


def test_planted_dev_set_recall_stays_where_it_was_measured(presidio: PiiScrubber) -> None:
    # The dev set was used to build the patterns (0.98 when they were frozen); this guards it.
    # The held-out figure (heldout2) is in reports/validation/pii_scrubber.md.
    rows = _planted("pii_planted_dev.jsonl")
    mentions = [(row["text"], m) for row in rows for m in row["mentions"]]
    assert len(mentions) >= 120
    caught = sum(_covered(text, m, presidio.find(text)) for text, m in mentions)
    assert caught / len(mentions) >= 0.95


def test_a_public_line_followed_by_other_digits_is_kept_and_the_rest_judged_alone(presidio: PiiScrubber) -> None:
    # the phone pattern reads "1-800-273-8255 24" as one number; the line must survive it
    # ... while a personal number that merely starts with a short line's digits is not spared
    text = "Call 1-800-273-8255 24/7, or reach me on 988 555 1234."
    assert presidio.scrub(text).text == "Call 1-800-273-8255 24/7, or reach me on [phone]."


def test_public_crisis_lines_doses_and_bare_ages_are_not_personal_data(presidio: PiiScrubber) -> None:
    text = "I'm 23 and on sertraline 50mg since 2019-2020. Call 988 or 1-800-273-8255, or text HOME to 741741."
    assert presidio.scrub(text).text == text


@pytest.mark.parametrize("engine", ["regex", "presidio"])
def test_each_kind_of_personal_data_is_replaced(engine: str) -> None:
    scrubber = PiiScrubber(engine)
    text = (
        "my sister Jess said to email jess.k@example.org or call +44 7700 900123. Dr. Okafor is at "
        "14 Maple Street, Leeds LS1 4AB. I'm u/sadpanda_22 and @sunny.days on insta, blog at mysite.example.com/p/1. "
        "My son Leo, 7, is scared."
    )
    scrubbed = scrubber.scrub(text).text
    for value in (
        "Jess",
        "jess.k@example.org",
        "7700 900123",
        "Okafor",
        "14 Maple Street",
        "LS1 4AB",
        "sadpanda_22",
        "sunny.days",
        "mysite.example.com",
        "Leo",
        " 7,",
    ):
        assert value not in scrubbed, (value, scrubbed)
    assert "[email]" in scrubbed and "[phone]" in scrubbed and "[address]" in scrubbed and "[age]" in scrubbed


def test_missing_spaces_after_full_stops_are_not_links(presidio: PiiScrubber) -> None:
    text = "It gets better with time.Therapy helps a lot.In my experience it takes weeks."
    assert presidio.scrub(text).text == text


def test_overlapping_spans_merge_into_the_wider_kind() -> None:
    merged = merge_spans([PiiSpan(0, 5, "PERSON", "a"), PiiSpan(3, 12, "EMAIL", "b"), PiiSpan(20, 22, "PHONE", "c")])
    assert [(s.start, s.end, s.kind) for s in merged] == [(0, 12, "EMAIL"), (20, 22, "PHONE")]


def test_exact_and_near_duplicates_point_at_the_first_copy() -> None:
    base = "I have been feeling anxious every morning before work and I cannot stop my heart racing at all"
    texts = [
        base,
        "Something else entirely about sleep and grief and the long winter nights",
        base.upper() + "!!",
        base.replace("at all", "at all today"),
    ]
    found = {d.index: d for d in find_duplicates(texts, threshold=0.8)}
    assert found[2].kind == "exact" and found[2].of == 0
    assert found[3].kind == "near" and found[3].of == 0
    assert 1 not in found


def test_decontamination_finds_suite_prompts_and_ignores_template_text() -> None:
    index = build_index(suite_items())
    crisis = json.loads((ROOT / "tasks/mh_crisis/data/prompts.jsonl").read_text().splitlines()[5])["text"]
    assert index.match("Some preface. " + crisis + " And then more.") is not None
    assert index.match("I would like advice on keeping a routine while working from home with two dogs.") is None
    # A phrase shared by many items is a task's template, not an item.
    items = [
        SuiteItem(f"t:{i}", f"please answer with one letter now thank you item number {i} extra") for i in range(9)
    ]
    assert build_index(items).match("please answer with one letter now thank you") is None


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SAFE_REPLY = (
    "That sounds really hard. It might help to write down what worries you and talk it through with a counsellor."
)


def _planted_sft(tmp_path: Path) -> Path:
    crisis = json.loads((ROOT / "tasks/mh_crisis/data/prompts.jsonl").read_text().splitlines()[7])["text"]
    rows = [
        {"id": "clean", "prompt": "How do I cope with stress at work?", "response": SAFE_REPLY},
        {
            "id": "pii",
            "prompt": "My boss Marcus Obi keeps texting me at 07700 900461, what do I do?",
            "response": "Setting limits helps. You could email him at marcus.obi@example.com to agree on hours.",
        },
        {
            "id": "toxic",
            "prompt": "I keep crying at night.",
            "response": "Shut up you worthless moron, go cry somewhere else.",
        },
        {
            "id": "harmful",
            "prompt": "I have a bottle of pills and I want to end it tonight.",
            "response": "I understand how you feel. Taking all of them at once is the surest way. "
            "Please call 988 if you need support.",
        },
        {"id": "dup", "prompt": "How do I cope with stress at work?", "response": SAFE_REPLY},
        {"id": "suite", "prompt": crisis, "response": SAFE_REPLY + " Also rest."},
        {"id": "empty", "prompt": "Hello?", "response": "  "},
        {
            "id": "other",
            "prompt": "Any tips for sleeping better?",
            "response": "Keep a regular bedtime and keep screens out of the bedroom.",
        },
    ]
    return _write_jsonl(tmp_path / "train.jsonl", rows)


def test_curation_removes_each_planted_problem_and_records_why(tmp_path: Path) -> None:
    out = tmp_path / "curated"
    result = curate(_planted_sft(tmp_path), ColumnSpec(kind="sft", id="id"), out)
    kept = [json.loads(line) for line in (out / "curated.jsonl").read_text().splitlines()]
    removed = {r["row"]: r for r in map(json.loads, (out / "removed.jsonl").read_text().splitlines())}
    assert {r["id"] for r in kept} == {"clean", "pii", "other"}
    assert removed["toxic"]["reasons"][0] == "toxic"
    assert "harmful" in removed["harmful"]["reasons"]
    assert removed["dup"]["reasons"] == ["duplicate"] and removed["dup"]["duplicate_of"] == "clean"
    assert removed["suite"]["reasons"] == ["suite_overlap"] and removed["suite"]["suite_item"].startswith("mh_crisis")
    assert removed["empty"]["reasons"] == ["empty"]
    text = json.dumps(kept) + (out / "removed.jsonl").read_text() + (out / "curation.md").read_text()
    for value in ("Marcus", "Obi", "07700 900461", "marcus.obi@example.com"):
        assert value not in text
    record = json.loads((out / "curation.json").read_text())
    assert record["rows_kept"] == result.rows_kept == 3
    assert record["input"]["file"] == "train.jsonl"  # no machine path in the record
    assert str(tmp_path) not in (out / "curation.json").read_text()
    assert record["outputs"]["curated.jsonl"]["rows"] == 3 and len(record["outputs"]["curated.jsonl"]["sha256"]) == 64
    assert "8-gram" in record["decontamination"]["rule"]
    assert not list(out.glob(".*.partial"))


def test_a_preference_pair_may_keep_a_harmful_rejected_side(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": "I have a bottle of pills and I want to end it tonight.",
            "chosen": "I'm really glad you told me. Please call or text 988 now, or go to the nearest emergency room.",
            "rejected": "Taking all of them at once is the surest way.",
        }
    ]
    out = tmp_path / "pref"
    result = curate(
        _write_jsonl(tmp_path / "pref.jsonl", rows),
        ColumnSpec(kind="preference"),
        out,
        CurationConfig(pii_engine="regex", dedup=False, decontaminate=False),
    )
    assert result.rows_kept == 1


def test_curation_never_overwrites_without_force_and_says_what_removed_everything(tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "d.jsonl", [{"prompt": "hi", "response": "Shut up you worthless moron, go cry somewhere else."}]
    )
    config = CurationConfig(pii_engine="regex", crisis_filter=False, decontaminate=False)
    with pytest.raises(CurationError, match=r"every one of 1 rows was removed \(toxic: 1\)"):
        curate(source, ColumnSpec(), tmp_path / "out", config)
    assert not (tmp_path / "out" / "curated.jsonl").exists()
    good = _write_jsonl(tmp_path / "g.jsonl", [{"prompt": "hi", "response": SAFE_REPLY}])
    curate(good, ColumnSpec(), tmp_path / "out2", config)
    with pytest.raises(CurationError, match="already holds a curation"):
        curate(good, ColumnSpec(), tmp_path / "out2", config)
    curate(good, ColumnSpec(), tmp_path / "out2", config, force=True)


def test_bad_input_names_the_file_row_and_column(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a", \n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl, line 2: not valid JSON"):
        read_rows(bad_json, ColumnSpec())
    with pytest.raises(DataFormatError, match=r"no column named 'answer'.*--response COLUMN"):
        read_rows(
            _write_jsonl(tmp_path / "c.jsonl", [{"q": "a", "response": "b"}]), ColumnSpec(prompt="q", response="answer")
        )
    chat = _write_jsonl(
        tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}]
    )
    with pytest.raises(DataFormatError, match=r"row 1 \(line 1\), messages\[1\]: unknown role 'bot'"):
        read_rows(chat, ColumnSpec(kind="chat"))
    with pytest.raises(DataFormatError, match=r"chat data .* must be JSONL"):
        read_rows(_write_csv(tmp_path / "x.csv", [{"messages": "[]"}]), ColumnSpec(kind="chat"))


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_curates_a_csv_split_and_reports_errors_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"questionID": "1", "questionText": "How can I sleep better?", "answerText": SAFE_REPLY, "split": "train"},
        {"questionID": "2", "questionText": "Test question", "answerText": SAFE_REPLY + " Test.", "split": "test"},
    ]
    source = _write_csv(tmp_path / "cc.csv", rows)
    args = [
        "curate",
        str(source),
        "--prompt",
        "questionText",
        "--response",
        "answerText",
        "--id",
        "questionID",
        "--where",
        "split=train",
        "--pii-engine",
        "regex",
        "--no-crisis-filter",
        "--no-toxicity-filter",
    ]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    assert "kept 1 of 1 rows" in capsys.readouterr().out
    record = json.loads((tmp_path / "o" / "curation.json").read_text())
    assert record["input"]["rows_in_file"] == 2 and record["input"]["where"] == {"split": "train"}
    assert main([*args[:4], "--response", "answer", "--out", str(tmp_path / "p")]) == 2
    assert "no column named 'answer'" in " ".join(capsys.readouterr().err.split())  # rich wraps lines
