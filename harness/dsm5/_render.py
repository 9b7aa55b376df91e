"""Turn a structured case into vignette text, in one of several templates and voices.

Rendering is a pure function of (disorder, case, surface): the same inputs give the same text,
and a minimal-pair negative differs from its positive only where its case differs.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.dsm5._case import Case
from harness.dsm5._schema import Disorder, Duration, SymptomGroup
from harness.dsm5._surface import Surface

_VOICES: Mapping[str, Mapping[str, str]] = {
    "she": {
        "subj": "she",
        "Subj": "She",
        "obj": "her",
        "pos": "her",
        "Pos": "Her",
        "refl": "herself",
        "is": "is",
        "was": "was",
        "has": "has",
        "does": "does",
        "s": "s",
        "es": "es",
        "ies": "ies",
    },
    "he": {
        "subj": "he",
        "Subj": "He",
        "obj": "him",
        "pos": "his",
        "Pos": "His",
        "refl": "himself",
        "is": "is",
        "was": "was",
        "has": "has",
        "does": "does",
        "s": "s",
        "es": "es",
        "ies": "ies",
    },
    "they": {
        "subj": "they",
        "Subj": "They",
        "obj": "them",
        "pos": "their",
        "Pos": "Their",
        "refl": "themself",
        "is": "are",
        "was": "were",
        "has": "have",
        "does": "do",
        "s": "",
        "es": "",
        "ies": "y",
    },
    "i": {
        "subj": "I",
        "Subj": "I",
        "obj": "me",
        "pos": "my",
        "Pos": "My",
        "refl": "myself",
        "is": "am",
        "was": "was",
        "has": "have",
        "does": "do",
        "s": "",
        "es": "",
        "ies": "y",
    },
}
_PERSON_NOUNS = {"she": "woman", "he": "man", "they": "non-binary adult"}
_PRONOUN_LABELS = {"she": "she/her", "he": "he/him", "they": "they/them"}
_RELATION_NOUNS = {
    "sibling": {"she": "sister", "he": "brother", "they": "sibling"},
    "partner": {"she": "partner", "he": "partner", "they": "partner"},
    "child": {"she": "daughter", "he": "son", "they": "child"},
    "parent": {"she": "mother", "he": "father", "they": "parent"},
}
# Said when no exclusion applies; none of these bears on any listed disorder's criteria.
_NEUTRAL_CONTEXT = (
    "{Subj} {is} not taking any regular medication.",
    "{Subj} drink{s} alcohol only occasionally and {does} not use drugs.",
    "{Pos} general practitioner found no physical cause for these difficulties.",
    "There is no relevant physical illness in {pos} history.",
)
_NO_IMPAIRMENT = (
    "None of this has affected {pos} work, relationships or daily routine, and {subj} {is} not troubled by it.",
    "{Subj} {has} kept up with work, family and friends as usual and {is} not distressed by any of this.",
)
_TOKEN = re.compile(r"\{([A-Za-z_]+)\}")


@dataclass(frozen=True)
class _Parts:
    blocks: tuple[tuple[str, ...], ...]
    timing: tuple[str, ...]
    impairment: str
    context: str


def render_vignette(disorder: Disorder, case: Case, surface: Surface) -> str:
    """The vignette text for ``case`` in the template and voice chosen by ``surface``."""
    voice = "i" if surface.template == "first_person" else surface.pronoun
    parts = _Parts(
        blocks=tuple(_group_blocks(disorder, case, surface, voice)),
        timing=tuple(_timing(disorder, case, surface, voice)),
        impairment=_impairment(disorder, case, surface, voice),
        context=_context(disorder, case, surface, voice),
    )
    return _TEMPLATES[surface.template](parts, surface, case.age)


def fill(text: str, voice: str, values: Mapping[str, str] | None = None) -> str:
    """Replace person tokens for ``voice`` and any named ``values``."""
    table = {**_VOICES[voice], **(values or {})}
    return _TOKEN.sub(lambda match: table[match.group(1)], text)


def format_duration(duration: Duration) -> str:
    if duration.unit == "month" and duration.value % 12 == 0:
        return str(Duration(duration.value // 12, "year"))
    return str(duration)


def format_frequency(per_week: float) -> str:
    named = {
        0.25: "about once a month",
        0.5: "about twice a month",
        1.0: "about once a week",
        2.0: "about twice a week",
        7.0: "every day",
    }
    return named.get(per_week, f"about {per_week:g} times a week")


def _pick(options: Sequence[str], surface: Surface, key: str) -> str:
    # A hash of (seed, key) rather than a shared random stream: removing one sentence from a
    # case must not change the wording chosen for any other sentence.
    digest = hashlib.sha256(f"{surface.wording_seed}:{key}".encode()).hexdigest()
    return options[int(digest, 16) % len(options)]


def _sentence(predicate: str, voice: str) -> str:
    return fill("{Subj} " + predicate + ".", voice)


def _group_blocks(disorder: Disorder, case: Case, surface: Surface, voice: str) -> list[tuple[str, ...]]:
    blocks = []
    for group in disorder.groups:
        # Order is drawn over all items, then filtered, so dropping one keeps the others' order.
        order = list(group.items)
        if not group.keep_order:
            random.Random(f"{surface.wording_seed}:order:{group.id}").shuffle(order)
        shown = [i for i in order if i in case.present]
        absent = [i for i in order if i in case.stated_absent]
        if not shown and not absent:
            continue
        lines = [fill(_pick(group.intro, surface, f"intro:{group.id}"), voice)] if group.intro else []
        lines += [_sentence(_pick(disorder.item(i).lay, surface, i), voice) for i in shown]
        lines += [_sentence(_pick(disorder.item(i).absent_lay, surface, f"absent:{i}"), voice) for i in absent]
        lines += _group_duration(group, case, surface, voice)
        blocks.append(tuple(lines))
    return blocks


def _group_duration(group: SymptomGroup, case: Case, surface: Surface, voice: str) -> list[str]:
    stated = case.group_durations.get(group.id)
    if group.duration is None or stated is None:
        return []
    text = _pick(group.duration.lay, surface, f"duration:{group.id}")
    return [fill(text, voice, {"duration": format_duration(stated)})]


def _timing(disorder: Disorder, case: Case, surface: Surface, voice: str) -> list[str]:
    lines = []
    if disorder.duration is not None and case.duration is not None:
        text = _pick(disorder.duration.lay, surface, "duration")
        lines.append(fill(text, voice, {"duration": format_duration(case.duration)}))
    onset = disorder.onset
    if onset is not None and (case.onset_age is not None or case.onset_after_event is not None):
        values = {"onset_age": str(case.onset_age)}
        if case.onset_after_event is not None:
            values["onset_delay"] = format_duration(case.onset_after_event)
        lines.append(fill(_pick(onset.lay, surface, "onset"), voice, values))
    if disorder.frequency is not None and case.episodes_per_week is not None:
        text = _pick(disorder.frequency.lay, surface, "frequency")
        lines.append(fill(text, voice, {"frequency": format_frequency(case.episodes_per_week)}))
    return lines


def _impairment(disorder: Disorder, case: Case, surface: Surface, voice: str) -> str:
    if not disorder.impairment.required:
        return ""
    options = disorder.impairment.lay if case.impairment else _NO_IMPAIRMENT
    return fill(_pick(options, surface, "impairment"), voice)


def _context(disorder: Disorder, case: Case, surface: Surface, voice: str) -> str:
    if not case.exclusions_present:
        return fill(_pick(_NEUTRAL_CONTEXT, surface, "context"), voice)
    lines = []
    for exclusion in disorder.exclusions:
        if exclusion.id in case.exclusions_present:
            if not exclusion.lay:
                raise ValueError(
                    f"exclusion '{exclusion.id}' of '{disorder.id}' has no lay "
                    f"phrasing: add 'lay' in {disorder.source_file} to render it"
                )
            lines.append(fill(_pick(exclusion.lay, surface, f"exclusion:{exclusion.id}"), voice))
    return " ".join(lines)


def _join(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def _flat(blocks: Sequence[Sequence[str]]) -> str:
    return " ".join(line for block in blocks for line in block)


def _clinician_note(parts: _Parts, surface: Surface, age: int) -> str:
    opening = (
        f"Clinical note. {surface.name} is a {age}-year-old "
        f"{_PERSON_NOUNS[surface.pronoun]} seen for an initial assessment."
    )
    return _join(opening, _flat(parts.blocks), *parts.timing, parts.impairment, parts.context)


def _first_person(parts: _Parts, surface: Surface, age: int) -> str:
    opening = f"My name is {surface.name} and I am {age} years old. I was asked to describe what has been going on."
    return _join(opening, _flat(parts.blocks), *parts.timing, parts.context, parts.impairment)


def _family_report(parts: _Parts, surface: Surface, age: int) -> str:
    relation = _RELATION_NOUNS[surface.relation][surface.pronoun]
    opening = f"I am writing about my {relation}, {surface.name}, who is {age}."
    closing = "I would like to understand what is going on."
    return _join(opening, _flat(parts.blocks), parts.impairment, *parts.timing, parts.context, closing)


def _intake_summary(parts: _Parts, surface: Surface, age: int) -> str:
    lines = [
        "Intake summary",
        f"Name: {surface.name}",
        f"Age: {age}",
        f"Pronouns: {_PRONOUN_LABELS[surface.pronoun]}",
        "Presenting concerns:",
    ]
    lines += [f"- {line}" for block in parts.blocks for line in block]
    if parts.timing:
        lines.append("Course: " + " ".join(parts.timing))
    if parts.impairment:
        lines.append("Functioning: " + parts.impairment)
    lines.append("Other history: " + parts.context)
    return "\n".join(lines)


def _referral_letter(parts: _Parts, surface: Surface, age: int) -> str:
    opening = (
        f"Dear colleague,\n\nI would be grateful if you could assess {surface.name}, a "
        f"{age}-year-old {_PERSON_NOUNS[surface.pronoun]}."
    )
    body = _join(_flat(parts.blocks), parts.context, parts.impairment, *parts.timing)
    return f"{opening} {body}\n\nKind regards,\nReferring clinician"


_TEMPLATES: Mapping[str, Callable[[_Parts, Surface, int], str]] = {
    "clinician_note": _clinician_note,
    "first_person": _first_person,
    "family_report": _family_report,
    "intake_summary": _intake_summary,
    "referral_letter": _referral_letter,
}
