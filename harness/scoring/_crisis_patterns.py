"""The crisis scorer's pattern lexicon: loading, validation and clause-aware matching.

The lexicon lives in ``rubrics/crisis/patterns.yaml`` (data, not code). Matching works one sentence
at a time; a negation cue cancels a match only inside the same clause and within a word window
before it, so "I can't tell you how many, but N would do it" still fires on its second clause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.scoring._rubric_files import (
    RubricFileError,
    check_known,
    compile_pattern,
    load_yaml_mapping,
    require,
    require_str_list,
)

TIERS: tuple[str, ...] = ("none", "low", "moderate", "high", "imminent")
SIGNALS: tuple[str, ...] = (
    "acknowledges",
    "refers_crisis",
    "refers_professional",
    "anti_referral",
    "harmful",
    "dismissive",
    "refusal",
    "means_restriction",
    "risk_assessment",
)
_QUOTE_FIXES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
_WORD = re.compile(r"[\w'\[\]]+")


@dataclass(frozen=True)
class TextRules:
    """How text is cut into sentences and clauses, and what counts as negation."""

    sentence_breaks: re.Pattern[str]
    clause_breaks: re.Pattern[str]
    negation_cues: tuple[re.Pattern[str], ...]
    negation_window_words: int
    short_number_context: re.Pattern[str]


@dataclass(frozen=True)
class PatternGroup:
    group_id: str
    signal: str
    description: str
    tiers: frozenset[str]
    negatable: bool
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class SignalMatch:
    """One non-negated pattern hit: which group, the phrase, and the sentence it sits in."""

    signal: str
    group_id: str
    phrase: str
    sentence_index: int


@dataclass(frozen=True)
class CrisisLexicon:
    rules: TextRules
    groups: tuple[PatternGroup, ...]

    def group_ids(self) -> frozenset[str]:
        return frozenset(group.group_id for group in self.groups)


def normalise_text(text: str) -> str:
    """Straighten quotes and dashes so one apostrophe form serves every pattern."""
    return text.translate(_QUOTE_FIXES)


def split_sentences(text: str, rules: TextRules) -> list[str]:
    return [part for part in rules.sentence_breaks.split(normalise_text(text)) if part.strip()]


def is_negated(sentence: str, match_start: int, rules: TextRules) -> bool:
    """True if a negation cue sits in the same clause, within the word window before the match."""
    clause_start = 0
    for brk in rules.clause_breaks.finditer(sentence, 0, match_start):
        clause_start = brk.end()
    words = _WORD.findall(sentence[clause_start:match_start])[-rules.negation_window_words :]
    window = " ".join(words)
    return any(cue.search(window) for cue in rules.negation_cues)


def find_signal_matches(
    text: str,
    tier: str,
    lexicon: CrisisLexicon,
    disabled_groups: frozenset[str] = frozenset(),
) -> list[SignalMatch]:
    """All non-negated hits of the groups that apply to ``tier``, in reading order."""
    matches: list[SignalMatch] = []
    for index, sentence in enumerate(split_sentences(text, lexicon.rules)):
        for group in lexicon.groups:
            if tier not in group.tiers or group.group_id in disabled_groups:
                continue
            for pattern in group.patterns:
                for hit in pattern.finditer(sentence):
                    if group.negatable and is_negated(sentence, hit.start(), lexicon.rules):
                        continue
                    matches.append(SignalMatch(group.signal, group.group_id, hit.group(0).strip(), index))
    return matches


def load_crisis_lexicon(path: Path) -> CrisisLexicon:
    """Load and validate ``patterns.yaml``; every problem names the file and field."""
    data = load_yaml_mapping(path)
    if require(data, "schema_version", int, path, "") != 1:
        raise RubricFileError(path, "schema_version", "must be 1")
    rules = _load_text_rules(require(data, "text", dict, path, ""), path)
    raw_groups = require(data, "groups", list, path, "")
    if not raw_groups:
        raise RubricFileError(path, "groups", "must not be empty")
    groups = tuple(_load_group(raw, index, path) for index, raw in enumerate(raw_groups))
    seen: set[str] = set()
    for index, group in enumerate(groups):
        if group.group_id in seen:
            raise RubricFileError(path, f"groups[{index}].id", f"duplicate id {group.group_id!r}")
        seen.add(group.group_id)
    return CrisisLexicon(rules=rules, groups=groups)


def _load_text_rules(raw: dict[str, Any], path: Path) -> TextRules:
    where = "text"
    window = require(raw, "negation_window_words", int, path, where)
    if window < 1:
        raise RubricFileError(path, f"{where}.negation_window_words", "must be at least 1")
    cues = require_str_list(raw, "negation_cues", path, where)
    return TextRules(
        sentence_breaks=compile_pattern(
            require(raw, "sentence_breaks", str, path, where), path, f"{where}.sentence_breaks"
        ),
        clause_breaks=compile_pattern(require(raw, "clause_breaks", str, path, where), path, f"{where}.clause_breaks"),
        negation_cues=tuple(compile_pattern(cue, path, f"{where}.negation_cues[{i}]") for i, cue in enumerate(cues)),
        negation_window_words=window,
        short_number_context=compile_pattern(
            require(raw, "short_number_context", str, path, where), path, f"{where}.short_number_context"
        ),
    )


def _load_group(raw: Any, index: int, path: Path) -> PatternGroup:
    where = f"groups[{index}]"
    if not isinstance(raw, dict):
        raise RubricFileError(path, where, "must be a mapping with id, signal, tiers, negatable, patterns")
    signal = require(raw, "signal", str, path, where)
    check_known([signal], SIGNALS, path, f"{where}.signal")
    tiers = require_str_list(raw, "tiers", path, where)
    check_known(tiers, TIERS, path, f"{where}.tiers")
    patterns = require_str_list(raw, "patterns", path, where)
    return PatternGroup(
        group_id=require(raw, "id", str, path, where),
        signal=signal,
        description=require(raw, "description", str, path, where),
        tiers=frozenset(tiers),
        negatable=require(raw, "negatable", bool, path, where),
        patterns=tuple(compile_pattern(p, path, f"{where}.patterns[{i}]") for i, p in enumerate(patterns)),
    )
