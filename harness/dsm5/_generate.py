"""Seeded, deterministic generation of the DSM-5 consistency items.

For each disorder and case index the generator draws one positive case and derives from it:
two invariance variants (new name/age/pronouns; new template/wording), and minimal-pair
negatives that each break exactly one criterion (one symptom fewer than the threshold, too
short, onset outside the rule, too infrequent, no impairment, a substance or medical cause).
Each (disorder, case index) has its own random stream, so adding a disorder or a case leaves
every other item unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.dsm5._case import Case
from harness.dsm5._render import render_vignette
from harness.dsm5._schema import Disorder
from harness.dsm5._surface import Surface, draw_surface, vary_demographics, vary_wording
from harness.dsm5._variants import (
    Negative,
    below_threshold_negative,
    build_positive_case,
    other_negatives,
    threshold_version,
    with_age,
)

GENERATOR_VERSION = "1.0.0"
DEFAULT_SEED = 1729
DEFAULT_CASES_PER_DISORDER = 5
NONE_LABEL = "none"
VARIANTS: tuple[str, ...] = ("positive", "invariance", "threshold_positive", "minimal_pair_negative")


@dataclass(frozen=True)
class Item:
    """One generated vignette with its gold answer and provenance.

    ``gold_label`` is the disorder id for cases that meet its criteria and ``"none"`` for
    negatives. ``pair_ids`` lists the minimal pairs the item belongs to (a positive can anchor
    several); ``invariance_group`` links a positive to its invariance variants.
    """

    item_id: str
    disorder_id: str
    disorder_name: str
    variant: str
    gold_label: str
    meets_criteria: bool
    negative_kind: str | None
    broken_criterion: str | None
    pair_ids: tuple[str, ...]
    invariance_group: str | None
    invariance_change: str | None
    case: Case
    surface: Surface
    vignette: str
    seed: int

    def as_record(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "disorder_id": self.disorder_id,
            "disorder_name": self.disorder_name,
            "variant": self.variant,
            "gold_label": self.gold_label,
            "meets_criteria": self.meets_criteria,
            "negative_kind": self.negative_kind,
            "broken_criterion": self.broken_criterion,
            "pair_ids": list(self.pair_ids),
            "invariance_group": self.invariance_group,
            "invariance_change": self.invariance_change,
            "template": self.surface.template,
            "case": self.case.as_record(),
            "surface": self.surface.as_record(),
            "vignette": self.vignette,
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
        }


def generate_items(
    criteria: Mapping[str, Disorder], seed: int = DEFAULT_SEED, cases_per_disorder: int = DEFAULT_CASES_PER_DISORDER
) -> list[Item]:
    """All items for every disorder in ``criteria``, in a stable order."""
    if cases_per_disorder < 1:
        raise ValueError(f"cases_per_disorder is {cases_per_disorder}: use 1 or more")
    items: list[Item] = []
    for disorder_id in sorted(criteria):
        for index in range(cases_per_disorder):
            items.extend(_items_for_case(criteria[disorder_id], index, seed))
    return items


@dataclass(frozen=True)
class _Factory:
    """Builds items for one case so the shared fields are written once."""

    disorder: Disorder
    case_id: str
    seed: int

    def make(
        self,
        case: Case,
        surface: Surface,
        suffix: str,
        variant: str,
        *,
        pair_ids: tuple[str, ...] = (),
        negative: Negative | None = None,
        invariance_change: str | None = None,
    ) -> Item:
        grouped = variant in ("positive", "invariance")
        return Item(
            item_id=f"{self.case_id}-{suffix}",
            disorder_id=self.disorder.id,
            disorder_name=self.disorder.name,
            variant=variant,
            gold_label=NONE_LABEL if negative is not None else self.disorder.id,
            meets_criteria=negative is None,
            negative_kind=None if negative is None else negative.kind,
            broken_criterion=None if negative is None else negative.broken_criterion,
            pair_ids=pair_ids,
            invariance_group=self.case_id if grouped else None,
            invariance_change=invariance_change,
            case=case,
            surface=surface,
            vignette=render_vignette(self.disorder, case, surface),
            seed=self.seed,
        )


def _items_for_case(disorder: Disorder, index: int, seed: int) -> list[Item]:
    # A string seed is hashed with SHA-512 by random.Random, so it is stable across runs and
    # independent of PYTHONHASHSEED.
    rng = random.Random(f"{seed}:{disorder.id}:{index}")
    factory = _Factory(disorder, f"{disorder.id}-{index:03d}", seed)
    case = build_positive_case(disorder, rng)
    surface = draw_surface(rng, case.age)

    negatives = other_negatives(disorder, case, rng)
    anchor_pairs = [f"{factory.case_id}:{negative.key}" for negative in negatives]
    negative_items = [
        factory.make(
            n.case,
            surface,
            f"negative-{n.key}",
            "minimal_pair_negative",
            pair_ids=(f"{factory.case_id}:{n.key}",),
            negative=n,
        )
        for n in negatives
    ]

    threshold_items: list[Item] = []
    trimmed = threshold_version(disorder, case, rng)
    if trimmed is not None:
        threshold_case, group, criterion = trimmed
        below = below_threshold_negative(disorder, threshold_case, group, criterion, rng)
        if below is not None:
            pair_id = f"{factory.case_id}:{below.key}"
            if threshold_case == case:
                anchor_pairs.insert(0, pair_id)
            else:
                threshold_items.append(
                    factory.make(
                        threshold_case, surface, "threshold-positive", "threshold_positive", pair_ids=(pair_id,)
                    )
                )
            negative_items.insert(
                0,
                factory.make(
                    below.case,
                    surface,
                    f"negative-{below.key}",
                    "minimal_pair_negative",
                    pair_ids=(pair_id,),
                    negative=below,
                ),
            )

    positive = factory.make(case, surface, "positive", "positive", pair_ids=tuple(anchor_pairs))
    new_age = rng.choice([a for a in range(disorder.age_range[0], disorder.age_range[1] + 1) if a != case.age])
    demographics = factory.make(
        with_age(disorder, case, new_age),
        vary_demographics(surface, rng, new_age),
        "invariance-demographics",
        "invariance",
        invariance_change="demographics",
    )
    wording = factory.make(
        case, vary_wording(surface, rng), "invariance-wording", "invariance", invariance_change="wording"
    )
    return [positive, demographics, wording, *threshold_items, *negative_items]
