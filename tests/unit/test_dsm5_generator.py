"""The vignette generator, cross-checked against the independent criteria checker."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import pytest

import harness.dsm5._generate as generate_module
import harness.dsm5._render as render_module
import harness.dsm5._surface as surface_module
import harness.dsm5._variants as variants_module
from harness.dsm5 import (
    DEFAULT_SEED,
    NONE_LABEL,
    Case,
    Disorder,
    Item,
    check_case,
    generate_items,
    load_criteria,
)

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN_ITEMS = REPO / "tasks" / "mh_dsm5_consistency" / "data" / "items.jsonl"
POSITIVE_VARIANTS = {"positive", "invariance", "threshold_positive"}


@pytest.fixture(scope="module")
def criteria() -> dict[str, Disorder]:
    return load_criteria()


@pytest.fixture(scope="module")
def items(criteria: dict[str, Disorder]) -> list[Item]:
    return generate_items(criteria)


def by_id(items: list[Item]) -> dict[str, Item]:
    return {item.item_id: item for item in items}


def pairs_of(items: list[Item]) -> dict[str, list[Item]]:
    pairs: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        for pair_id in item.pair_ids:
            pairs[pair_id].append(item)
    return pairs


# --- labels agree with the independent checker -------------------------------------------------


def test_every_positive_meets_criteria_under_the_checker(criteria: dict[str, Disorder], items: list[Item]) -> None:
    positives = [item for item in items if item.variant in POSITIVE_VARIANTS]
    assert len(positives) >= 250
    for item in positives:
        verdict = check_case(criteria[item.disorder_id], item.case)
        assert verdict.meets, (item.item_id, verdict.explanation())
        assert item.gold_label == item.disorder_id and item.meets_criteria


def test_every_negative_fails_exactly_the_criterion_the_generator_names(
    criteria: dict[str, Disorder], items: list[Item]
) -> None:
    negatives = [item for item in items if item.variant == "minimal_pair_negative"]
    assert len(negatives) >= 200
    for item in negatives:
        verdict = check_case(criteria[item.disorder_id], item.case)
        assert verdict.failed == (item.broken_criterion,), (item.item_id, verdict.explanation())
        assert item.gold_label == NONE_LABEL and not item.meets_criteria


def imported_names(module: ModuleType) -> set[str]:
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_generator_does_not_use_the_checker() -> None:
    # The cross-check above is only meaningful if labels are not decided by the checker itself.
    modules: list[ModuleType] = [generate_module, variants_module, render_module, surface_module]
    for module in modules:
        names = imported_names(module)
        assert "harness.dsm5._logic" not in names and "harness.dsm5" not in names, module.__name__
        assert not {"check_case", "required_count", "Verdict"} & names, module.__name__


def test_every_applicable_negative_kind_is_generated(items: list[Item]) -> None:
    kinds = {(item.disorder_id, item.negative_kind) for item in items if item.negative_kind}
    assert ("major_depressive", "below_threshold") in kinds
    assert ("major_depressive", "duration_too_short") in kinds
    assert ("major_depressive", "exclusion_substance") in kinds
    assert ("major_depressive", "exclusion_medical") in kinds
    assert ("adhd", "onset_outside_rule") in kinds
    assert ("adjustment", "onset_outside_rule") in kinds
    assert ("insomnia", "frequency_too_low") in kinds
    # Flexible six-month guideline and childhood-onset duration: no too-short negatives.
    assert ("social_anxiety", "duration_too_short") not in kinds
    assert ("adhd", "duration_too_short") not in kinds


def test_ptsd_too_short_cases_do_not_turn_into_acute_stress(items: list[Item]) -> None:
    shortened = [item for item in items if item.disorder_id == "ptsd" and item.negative_kind == "duration_too_short"]
    assert shortened
    for item in shortened:
        assert item.case.duration is not None and item.case.duration.days < 3


# --- minimal pairs -----------------------------------------------------------------------------


def test_each_pair_has_one_positive_and_one_negative_with_the_same_surface(items: list[Item]) -> None:
    pairs = pairs_of(items)
    assert len(pairs) == sum(item.variant == "minimal_pair_negative" for item in items)
    for pair_id, members in pairs.items():
        assert sorted(m.meets_criteria for m in members) == [False, True], pair_id
        positive, negative = sorted(members, key=lambda m: not m.meets_criteria)
        assert positive.surface == negative.surface, pair_id
        assert positive.disorder_id == negative.disorder_id


def changed_fields(first: Case, second: Case) -> set[str]:
    return {f.name for f in fields(Case) if getattr(first, f.name) != getattr(second, f.name)}


EXPECTED_CHANGE = {
    "duration_too_short": {"duration"},
    "frequency_too_low": {"episodes_per_week"},
    "impairment_absent": {"impairment"},
    "exclusion_substance": {"exclusions_present"},
    "exclusion_medical": {"exclusions_present"},
}


def test_negatives_differ_from_their_positive_only_in_the_broken_criterion(items: list[Item]) -> None:
    for members in pairs_of(items).values():
        positive, negative = sorted(members, key=lambda m: not m.meets_criteria)
        kind = negative.negative_kind
        changed = changed_fields(positive.case, negative.case)
        if kind == "below_threshold":
            assert changed <= {"present", "stated_absent"}
            assert negative.case.present < positive.case.present
            assert len(positive.case.present - negative.case.present) == 1
        elif kind == "onset_outside_rule":
            assert changed in ({"onset_age", "duration"}, {"onset_age"}, {"onset_after_event"})
        else:
            assert kind is not None and changed == EXPECTED_CHANGE[kind], (negative.item_id, changed)


def test_threshold_positives_sit_exactly_at_the_threshold(criteria: dict[str, Disorder], items: list[Item]) -> None:
    # Dropping any item of the targeted group must fail, otherwise the pair is not minimal.
    checked = 0
    for item in items:
        if item.variant != "threshold_positive":
            continue
        disorder = criteria[item.disorder_id]
        for dropped in sorted(item.case.present):
            owner = next(g for g in disorder.groups if dropped in g.items)
            if disorder.threshold_group not in (owner.id, owner.alternative_set):
                continue
            fewer = Case.from_record({**item.case.as_record(), "present": sorted(item.case.present - {dropped})})
            assert not check_case(disorder, fewer).meets, (item.item_id, dropped)
            checked += 1
    assert checked >= 100


# --- invariance --------------------------------------------------------------------------------


def test_invariance_variants_keep_the_clinical_content(items: list[Item]) -> None:
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.invariance_group is not None:
            groups[item.invariance_group].append(item)
    assert groups
    for group_id, members in groups.items():
        assert sorted(m.variant for m in members) == ["invariance", "invariance", "positive"]
        assert len({m.gold_label for m in members}) == 1
        positive = next(m for m in members if m.variant == "positive")
        for member in members:
            assert changed_fields(positive.case, member.case) <= {"age", "duration"}, group_id
        demographics = next(m for m in members if m.invariance_change == "demographics")
        assert demographics.surface.name != positive.surface.name
        assert demographics.surface.pronoun != positive.surface.pronoun
        wording = next(m for m in members if m.invariance_change == "wording")
        assert wording.surface.template != positive.surface.template
        assert wording.vignette != positive.vignette


# --- size, determinism, wording ----------------------------------------------------------------


def test_default_set_size_and_coverage(criteria: dict[str, Disorder], items: list[Item]) -> None:
    assert 400 <= len(items) <= 800
    assert {item.disorder_id for item in items} == set(criteria)
    assert len({item.item_id for item in items}) == len(items)
    positives = Counter(i.disorder_id for i in items if i.meets_criteria)
    assert min(positives.values()) >= 15


def test_case_count_parameter_scales_the_set(criteria: dict[str, Disorder], items: list[Item]) -> None:
    small = {"panic": criteria["panic"]}
    assert len(generate_items(small, cases_per_disorder=8)) > len(generate_items(small))
    with pytest.raises(ValueError, match="cases_per_disorder"):
        generate_items(small, cases_per_disorder=0)


def test_same_seed_same_items_and_other_seed_other_items(criteria: dict[str, Disorder], items: list[Item]) -> None:
    again = generate_items(criteria, seed=DEFAULT_SEED)
    assert [i.as_record() for i in again] == [i.as_record() for i in items]
    other = generate_items(criteria, seed=DEFAULT_SEED + 1)
    assert [i.vignette for i in other] != [i.vignette for i in items]
    assert {i.seed for i in other} == {DEFAULT_SEED + 1}


def test_one_disorder_does_not_shift_the_others(criteria: dict[str, Disorder], items: list[Item]) -> None:
    alone = generate_items({"ocd": criteria["ocd"]})
    assert [i.as_record() for i in alone] == [i.as_record() for i in items if i.disorder_id == "ocd"]


def test_templates_are_varied_and_fully_rendered(items: list[Item]) -> None:
    templates = Counter(item.surface.template for item in items)
    assert len(templates) >= 4 and min(templates.values()) >= 30
    for item in items:
        assert "{" not in item.vignette and "}" not in item.vignette, item.item_id
        assert item.surface.name in item.vignette


BROKEN_AGREEMENT = re.compile(r"\b(They (is|was|has|does)|I (is|are|has|does)|(She|He) (are|were|have|do)) ")


def test_person_and_verb_agree_in_every_vignette(items: list[Item]) -> None:
    for item in items:
        assert not BROKEN_AGREEMENT.search(item.vignette), (item.item_id, item.vignette)
        if item.surface.template == "first_person":
            assert " I " in item.vignette and " She " not in item.vignette


# --- the build script --------------------------------------------------------------------------


def load_build_script() -> ModuleType:
    path = REPO / "scripts" / "build_dsm5_items.py"
    spec = importlib.util.spec_from_file_location("build_dsm5_items", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_is_byte_identical_across_runs(tmp_path: Path) -> None:
    script = load_build_script()
    first, second = tmp_path / "first", tmp_path / "second"
    assert script.main(["--out-dir", str(first)]) == 0
    assert script.main(["--out-dir", str(second)]) == 0
    for name in ("items.jsonl", "SOURCE.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    source = (first / "SOURCE.md").read_text(encoding="utf-8")
    assert f"seed: {DEFAULT_SEED}" in source
    criteria_file = REPO / "rubrics" / "dsm5" / "ptsd.yaml"
    assert hashlib.sha256(criteria_file.read_bytes()).hexdigest() in source


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    digests = set()
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "build_dsm5_items.py"), "--out-dir", str(out)],
            check=True,
            env=env,
            capture_output=True,
        )
        digests.add(hashlib.sha256((out / "items.jsonl").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_checked_in_items_match_the_criteria_files(items: list[Item]) -> None:
    # Editing a criteria file without rerunning the build script must not go unnoticed.
    script = load_build_script()
    assert CHECKED_IN_ITEMS.read_bytes() == script.items_jsonl(items), (
        "tasks/mh_dsm5_consistency/data/items.jsonl is stale: run scripts/build_dsm5_items.py"
    )
