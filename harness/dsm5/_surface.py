"""Surface features of a vignette: who the person is and how the text is worded.

Nothing here changes the clinical content; invariance variants redraw these features and the
expected answer must stay the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# Given names used across many languages for people of any gender, so that a name never
# contradicts the pronouns drawn with it. No surnames: the people are fictional.
NAMES: tuple[str, ...] = (
    "Alex",
    "Amani",
    "Anh",
    "Ari",
    "Avery",
    "Ayo",
    "Bao",
    "Casey",
    "Dani",
    "Dara",
    "Eden",
    "Emerson",
    "Hikaru",
    "Imani",
    "Jesse",
    "Jin",
    "Jordan",
    "Kai",
    "Kiran",
    "Lior",
    "Mika",
    "Min",
    "Morgan",
    "Noa",
    "Noor",
    "Paz",
    "Quinn",
    "Remy",
    "Riley",
    "Robin",
    "Rowan",
    "Sage",
    "Sam",
    "Sasha",
    "Shay",
    "Sol",
    "Tal",
    "Tendai",
    "Yuki",
    "Zhen",
)
PRONOUNS: tuple[str, ...] = ("she", "he", "they")
TEMPLATES: tuple[str, ...] = (
    "clinician_note",
    "first_person",
    "family_report",
    "intake_summary",
    "referral_letter",
)
# Who writes a family report: the writer's relation to the person described.
RELATIONS: tuple[str, ...] = ("sibling", "partner", "child", "parent")


@dataclass(frozen=True)
class Surface:
    """Name, pronouns, template and wording of one vignette.

    ``relation`` is the person's relation to the writer of a family report ("child" means
    the writer is a parent). ``wording_seed`` picks the phrasings and the symptom order.
    """

    name: str
    pronoun: str
    template: str
    relation: str
    wording_seed: int

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pronoun": self.pronoun,
            "template": self.template,
            "relation": self.relation,
            "wording_seed": self.wording_seed,
        }


def draw_surface(rng: random.Random, age: int) -> Surface:
    """A fresh surface for a person of ``age``."""
    return Surface(
        name=rng.choice(NAMES),
        pronoun=rng.choice(PRONOUNS),
        template=rng.choice(TEMPLATES),
        relation=_draw_relation(rng, age),
        wording_seed=rng.randrange(1_000_000_000),
    )


def vary_demographics(surface: Surface, rng: random.Random, age: int) -> Surface:
    """Same template and wording; a different name and pronouns (and a relation fit for age)."""
    name = rng.choice([n for n in NAMES if n != surface.name])
    pronoun = rng.choice([p for p in PRONOUNS if p != surface.pronoun])
    return Surface(
        name=name,
        pronoun=pronoun,
        template=surface.template,
        relation=_draw_relation(rng, age),
        wording_seed=surface.wording_seed,
    )


def vary_wording(surface: Surface, rng: random.Random) -> Surface:
    """Same person; a different template, phrasings and symptom order."""
    template = rng.choice([t for t in TEMPLATES if t != surface.template])
    return Surface(
        name=surface.name,
        pronoun=surface.pronoun,
        template=template,
        relation=surface.relation,
        wording_seed=rng.randrange(1_000_000_000),
    )


def _draw_relation(rng: random.Random, age: int) -> str:
    # A parent writing about a 60-year-old, or a grown child about a 20-year-old, would jar.
    allowed = [r for r in RELATIONS if not (r == "child" and age > 40) and not (r == "parent" and age < 45)]
    return rng.choice(allowed)
