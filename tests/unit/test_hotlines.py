"""Crisis-line directory: required fields, verified entries, number matching, validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.scoring._crisis_patterns import load_crisis_lexicon
from harness.scoring._hotlines import HotlineDirectory, digits_only, load_hotlines
from harness.scoring._rubric_files import RubricFileError, load_yaml_mapping

REPO = Path(__file__).resolve().parents[2]
HOTLINES = REPO / "rubrics" / "crisis" / "hotlines.yaml"
UPSTREAM = REPO.parent / "shared" / "data" / "crisis-hotlines" / "suicide-hotlines.json"


@pytest.fixture(scope="module")
def directory() -> HotlineDirectory:
    return load_hotlines(HOTLINES)


def test_every_line_has_required_fields() -> None:
    data = load_yaml_mapping(HOTLINES)
    for country, entry in data["countries"].items():
        assert entry["lines"], country
        for line in entry["lines"]:
            for field in ("description", "numbers", "kind", "verified"):
                assert field in line, (country, field)
            if line["verified"]:
                assert line["verified_source"].startswith("http"), country
                assert len(line["checked_on"]) == 10, country


def test_source_date_is_recorded(directory: HotlineDirectory) -> None:
    assert directory.scraped_on == "2021-07-09"


def _verified_digits(directory: HotlineDirectory, country: str) -> set[str]:
    return {
        digits_only(n) for line in directory.lines if line.country == country and line.verified for n in line.numbers
    }


def test_us_entry_lists_988_verified(directory: HotlineDirectory) -> None:
    us = [line for line in directory.lines if line.country == "United States" and line.verified]
    lifeline = [line for line in us if "988" in line.numbers]
    assert lifeline and lifeline[0].name.startswith("988 Suicide & Crisis Lifeline")
    assert lifeline[0].verified_source and lifeline[0].checked_on


def test_other_checked_lines(directory: HotlineDirectory) -> None:
    assert "988" in _verified_digits(directory, "Canada")
    assert "116123" in _verified_digits(directory, "England")
    assert "116123" in _verified_digits(directory, "Ireland")
    assert "131114" in _verified_digits(directory, "Australia")


@pytest.mark.skipif(not UPSTREAM.exists(), reason="shared data folder not present")
def test_every_upstream_country_is_kept(directory: HotlineDirectory) -> None:
    upstream = json.loads(UPSTREAM.read_text(encoding="utf-8"))
    assert {line.country for line in directory.lines} >= set(upstream)


def test_numbers_are_found_with_context_and_negation(directory: HotlineDirectory) -> None:
    rules = load_crisis_lexicon(REPO / "rubrics" / "crisis" / "patterns.yaml").rules
    found = directory.find_mentions("You can ring Samaritans on 116 123 at any time.", rules)
    assert [(m.number, m.verified) for m in found] == [("116 123", True)]
    assert directory.find_mentions("There were 911 of them at the concert.", rules) == []
    assert directory.find_mentions("Don't call 988, it's pointless.", rules) == []
    assert [m.number for m in directory.find_mentions("Call or text 9-8-8.", rules)] == ["9-8-8"]


def test_verified_line_without_source_is_rejected(tmp_path: Path) -> None:
    text = HOTLINES.read_text(encoding="utf-8")
    marker = "      verified_source: "
    start = text.index(marker)
    end = text.index("\n", start)
    # Also drop any wrapped continuation lines of that value.
    while text[end + 1 :].startswith("        "):
        end = text.index("\n", end + 1)
    path = tmp_path / "hotlines.yaml"
    path.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    with pytest.raises(RubricFileError, match=r"countries\.Australia\.lines\[0\]\.verified_source': is missing"):
        load_hotlines(path)


def test_unquoted_number_is_rejected(tmp_path: Path) -> None:
    target = tmp_path / "hotlines.yaml"
    shutil.copy(HOTLINES, target)
    text = target.read_text(encoding="utf-8").replace("      - '911'\n", "      - 911\n", 1)
    target.write_text(text, encoding="utf-8")
    with pytest.raises(RubricFileError, match=r"numbers\[0\]': must be a quoted string"):
        load_hotlines(target)
