"""Remove personal data from forum text before it is trained on, shipped or shown in a report.

``scrub_personal_data`` replaces URLs, e-mail addresses, @handles, Reddit user and subreddit
names, Reddit ids and phone numbers with bracketed placeholders ("[link]", "[email]", ...), so the
sentence still reads as a sentence and a reader can see that something was removed.
``collapse_whitespace`` is applied after scrubbing because the same post is stored with different
runs of spaces in different copies of a data set.
"""

from __future__ import annotations

import html
import re

# Order matters: markdown links and URLs go before e-mails and handles, which could otherwise
# match pieces of a URL ("user@host" inside a link, "/u/name" inside a reddit.com path).
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{0,200})\]\(\s*[^)\s]+\s*\)")
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.\-]*://|\bwww\.)[^\s<>\"')\]]+", re.IGNORECASE)
# A bare domain ("reddit.com/r/x"); run after e-mails so "name@host.org" stays one e-mail.
_BARE_DOMAIN = re.compile(
    r"\b[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:com|org|net|edu|gov|io|uk|ly|info|gl)\b(?:/[^\s<>\"')\]]*)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
_HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
_REDDIT_USER = re.compile(r"(?<![\w/])/?u/[\w\-]{2,}", re.IGNORECASE)
_SUBREDDIT = re.compile(r"(?<![\w/])/?r/[\w\-]{2,}", re.IGNORECASE)
# Reddit fullnames: a type prefix (t1_ comment, t3_ post, ...) and a base-36 id.
_REDDIT_ID = re.compile(r"\bt[1-6]_[a-z0-9]{5,10}\b", re.IGNORECASE)
# Ten or more digits, optionally grouped (+1 (555) 123-4567, 555.123.4567), or a 3-3-4 / 3-4
# grouping with separators. Ages, years and counts are shorter and have no such grouping.
_PHONE = re.compile(
    r"(?<![\w])(?:\+?\d{1,3}[\s.\-]?)?(?:\(\d{2,4}\)[\s.\-]?|\d{2,4}[\s.\-])\d{3}[\s.\-]\d{3,4}(?![\w])"
    r"|(?<![\w])\d{3}[.\-]\d{4}(?![\w])"
    r"|(?<![\w.])\+?\d{10,13}(?![\w.])"
)
_WHITESPACE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def scrub_personal_data(text: str) -> str:
    """Return ``text`` with personal data replaced by placeholders and whitespace collapsed.

    HTML entities are decoded first: forum dumps store "&amp;" and "&gt;" for "&" and ">".
    """
    text = html.unescape(text)
    text = _MARKDOWN_LINK.sub(lambda m: f"{m.group(1)} [link]", text)
    text = _URL.sub("[link]", text)
    text = _EMAIL.sub("[email]", text)
    text = _BARE_DOMAIN.sub("[link]", text)
    text = _REDDIT_USER.sub("[user]", text)
    text = _SUBREDDIT.sub("[forum]", text)
    text = _HANDLE.sub("[user]", text)
    text = _REDDIT_ID.sub("[id]", text)
    text = _PHONE.sub("[phone]", text)
    return collapse_whitespace(text)


# "[name]" is not produced here (names need reading, not a rule) but data builders may insert it.
PLACEHOLDERS: tuple[str, ...] = ("[link]", "[email]", "[user]", "[forum]", "[id]", "[phone]", "[name]")
