"""One sample row of a run, read as an item to label: the scrubbed message and reply a rater sees,
and, kept apart, what only the coordinator may see (the reference tier and every scorer output).

The scorer outputs are mapped onto the protocol's field names and label values ("0"/"1", levels
"0"/"1"/"2"), so that a report can put a scorer beside the raters as one more rater.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from harness.annotate.fields import AnnotationError

TIERS: tuple[str, ...] = ("none", "low", "moderate", "high", "imminent")
WARNING_FROM_TIER = "moderate"
CONTENT_WARNING = "Content warning: suicide, self-harm or disordered eating may be discussed in this item."
EMPATHY_FIELDS = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX"}
# An empathy level is near a boundary when its two most probable levels are this close.
BOUNDARY_MARGIN = 0.2
# The project's validated scrubber (reports/validation/pii_scrubber.md: Presidio with spaCy names
# plus the project's patterns), which keeps public crisis-line numbers (rubrics/crisis/hotlines.yaml).
SCRUBBER = "harness.curate.pii.PiiScrubber(engine=presidio), public crisis-line numbers kept"


@dataclass(frozen=True)
class Item:
    annotation_id: str
    run_id: str
    task: str
    item_key: str
    rubric: str
    message: str  # scrubbed once chosen (``scrubbed()``); raw while sampling
    reply: str
    content_warning: str  # "" when none
    reference_tier: str | None
    scorers: Mapping[str, Mapping[str, str]]  # scorer -> {field: label}
    details: Mapping[str, Any] = field(default_factory=dict)  # verdict, disagreements, probabilities
    stratum: str = ""  # reference tier (crisis) or score band (empathy)
    disagreement: float = 0.0  # higher first under --sample disagreement; 0 = none

    def scrubbed(self) -> Item:
        """The item as raters may see it. Scrubbing is the slow step (a spaCy pipeline per text),
        so it runs on the chosen items only."""
        return replace(self, message=scrub_for_raters(self.message), reply=scrub_for_raters(self.reply))

    @property
    def message_sha256(self) -> str:
        return sha256_text(self.message)

    @property
    def reply_sha256(self) -> str:
        return sha256_text(self.reply)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def annotation_id(run_id: str, task: str, item_key: str) -> str:
    """Opaque and stable: the same run item always gets the same id, and the id says nothing."""
    return "ann-" + sha256_text(f"{run_id}/{task}/{item_key}")[:12]


def read_item(run_id: str, task: str, item_key: str, rubric: str, row: Mapping[str, Any], where: str) -> Item:
    doc, judgement = _mapping(row.get("doc")), _mapping(row.get("judgement"))
    metadata = _mapping(judgement.get("metadata"))
    tier = doc.get("tier") if doc.get("tier") in TIERS else None
    scorers: dict[str, dict[str, str]] = {}
    details: dict[str, Any] = {}
    disagreement, stratum = 0.0, tier or "no tier"
    if isinstance(metadata.get("layers"), Mapping):
        scorers, details = _crisis_outputs(metadata)
        disagreement = float(len(details["disagreements"]))
    if isinstance(metadata.get("mechanisms"), Mapping):
        levels, margin = _empathy_outputs(metadata["mechanisms"])
        scorers["empathy"] = levels
        details["empathy_margin"] = round(margin, 4)
        if margin < BOUNDARY_MARGIN:
            disagreement = max(disagreement, 1.0 - margin)
        stratum = _score_band(judgement.get("value"))
    scorers.update(_judge_outputs(row.get("judges")))
    if isinstance(judgement.get("value"), int | float):
        details["score"] = round(float(judgement["value"]), 4)
    harmful = row.get("harmful") == 1 or bool((metadata.get("items") or {}).get("harmful"))
    crisis_text = (tier is not None and TIERS.index(tier) >= TIERS.index(WARNING_FROM_TIER)) or harmful
    return Item(
        annotation_id=annotation_id(run_id, task, item_key),
        run_id=run_id,
        task=task,
        item_key=item_key,
        rubric=rubric,
        message=_message(doc, where),
        reply=_reply(row, where),
        content_warning=CONTENT_WARNING if crisis_text or doc.get("self_harm_terms") is True else "",
        reference_tier=tier,
        scorers=scorers,
        details=details,
        stratum=stratum,
        disagreement=disagreement,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _crisis_outputs(metadata: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    layers = metadata["layers"]
    scorers: dict[str, dict[str, str]] = {}
    classifier = layers.get("classifier") or {}
    if isinstance(classifier.get("items"), Mapping):
        scorers["crisis_classifier"] = _flags(classifier["items"])
    if isinstance(layers.get("patterns"), Mapping):
        scorers["crisis_patterns"] = _flags(layers["patterns"])
    if isinstance(metadata.get("items"), Mapping):
        scorers["crisis_judgement"] = _flags(metadata["items"])
    details = {
        "verdict": metadata.get("verdict"),
        "disagreements": sorted(str(name) for name in metadata.get("disagreements") or ()),
    }
    return scorers, details


def _judge_outputs(judges: Any) -> dict[str, dict[str, str]]:
    """LLM judges' answers (``mindgate eval --judges``) as scorers named ``judge:<name>``; an
    answer the judge failed to give is left out, never read as "no"."""
    if not isinstance(judges, Mapping):
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, answers in sorted(judges.items()):
        if isinstance(answers, Mapping):
            out[f"judge:{name}"] = {
                str(item): "1" if answer["answer"] else "0"
                for item, answer in sorted(answers.items())
                if isinstance(answer, Mapping) and isinstance(answer.get("answer"), bool)
            }
    return out


def _flags(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(name): "1" if value else "0" for name, value in sorted(values.items()) if isinstance(value, bool)}


def _empathy_outputs(mechanisms: Mapping[str, Any]) -> tuple[dict[str, str], float]:
    levels: dict[str, str] = {}
    margin = 1.0
    for name, short in EMPATHY_FIELDS.items():
        found = mechanisms.get(name)
        if not isinstance(found, Mapping) or "level" not in found:
            continue
        levels[short] = str(int(found["level"]))
        probabilities = sorted((float(p) for p in (found.get("probabilities") or {}).values()), reverse=True)
        if len(probabilities) >= 2:
            margin = min(margin, probabilities[0] - probabilities[1])
    return levels, margin


def _score_band(value: Any) -> str:
    if not isinstance(value, int | float):
        return "no score"
    return "low" if value < 1 / 3 else "middle" if value < 2 / 3 else "high"


def _message(doc: Mapping[str, Any], where: str) -> str:
    if isinstance(doc.get("text"), str) and doc["text"].strip():
        return str(doc["text"])
    turns = doc.get("messages") or doc.get("turns")
    if isinstance(turns, list) and all(isinstance(t, Mapping) and "content" in t for t in turns):
        return "\n".join(f"{t.get('role', 'user')}: {t['content']}" for t in turns)
    raise AnnotationError(f"{where}: the row has no doc.text (or doc.messages) to show as the user message")


def _reply(row: Mapping[str, Any], where: str) -> str:
    resps = row.get("resps")
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0] and isinstance(resps[0][0], str):
        return str(resps[0][0])
    filtered = row.get("filtered_resps")
    if isinstance(filtered, list) and filtered and isinstance(filtered[0], str):
        return str(filtered[0])
    raise AnnotationError(
        f"{where}: the row has no generated reply (resps[0][0]); only generation tasks can be labelled"
    )


def scrub_for_raters(text: str) -> str:
    """Names, contact details, links, handles and addresses replaced by placeholders ("[name]",
    "[phone]", ...) as PROTOCOL.md section 11 promises; public crisis lines are kept."""
    return _scrubber().scrub(text).text


@lru_cache(maxsize=1)
def _scrubber() -> Any:
    from harness.curate.pii import PiiScrubber

    return PiiScrubber("presidio")
