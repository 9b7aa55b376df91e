"""The shipped DSM-5 criteria files, their validator, and the independent criteria checker."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from harness.dsm5 import (
    Case,
    CriteriaError,
    Disorder,
    Duration,
    check_case,
    default_criteria_dir,
    load_criteria,
    load_disorder,
)

FIXTURES = Path(__file__).parent / "fixtures" / "dsm5"
# Tests may read the shared data folder; the product never does.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CROSSWALK = SHARED_DATA / "dsm5-icd10cm-crosswalk" / "icd10-dsm5.csv"
REQUIRED_DISORDERS = {
    "major_depressive",
    "persistent_depressive",
    "generalized_anxiety",
    "panic",
    "social_anxiety",
    "specific_phobia",
    "ptsd",
    "acute_stress",
    "adjustment",
    "ocd",
    "bipolar_1",
    "bipolar_2",
    "adhd",
    "anorexia_nervosa",
    "bulimia_nervosa",
    "binge_eating",
    "insomnia",
    "schizophrenia",
}
SHIPPED_FILES = sorted(default_criteria_dir().glob("*.yaml"))


@pytest.fixture(scope="module")
def criteria() -> dict[str, Disorder]:
    return load_criteria()


# --- the shipped files -------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.stem)
def test_validator_accepts_every_shipped_file(path: Path) -> None:
    disorder = load_disorder(path)
    assert disorder.id == path.stem
    assert disorder.items and disorder.groups


def test_all_required_disorders_are_shipped(criteria: dict[str, Disorder]) -> None:
    assert set(criteria) >= REQUIRED_DISORDERS


def test_every_source_cites_the_disorders_own_section(criteria: dict[str, Disorder]) -> None:
    for disorder in criteria.values():
        sources = [item.source for item in disorder.items] + [g.source for g in disorder.groups]
        sources += [exclusion.source for exclusion in disorder.exclusions]
        for source in sources:
            assert disorder.section.startswith(source.split(",")[0]), (disorder.id, source)


def test_paraphrases_are_short(criteria: dict[str, Disorder]) -> None:
    # Short paraphrases, never the manual's sentences: a long item text is a sign of copying.
    for disorder in criteria.values():
        for item in disorder.items:
            assert len(item.text) <= 130, (disorder.id, item.id)


@pytest.mark.skipif(not CROSSWALK.exists(), reason="shared crosswalk not available")
def test_default_icd10cm_codes_appear_in_the_dsm5_crosswalk(criteria: dict[str, Disorder]) -> None:
    with CROSSWALK.open(newline="", encoding="utf-8") as handle:
        codes = {row["icd10cm"] for row in csv.DictReader(handle)}
    for disorder in criteria.values():
        assert set(disorder.icd10cm) <= codes, disorder.id


def test_depression_and_anxiety_thresholds(criteria: dict[str, Disorder]) -> None:
    mdd = criteria["major_depressive"]
    assert (len(mdd.group("A").items), mdd.group("A").min_count) == (9, 5)
    assert set(mdd.group("A").required_any) == {"depressed_mood", "anhedonia"}
    assert mdd.duration is not None and mdd.duration.min == Duration(2, "week")
    gad = criteria["generalized_anxiety"]
    assert (len(gad.group("C").items), gad.group("C").min_count) == (6, 3)
    assert gad.duration is not None and gad.duration.min == Duration(6, "month")
    panic = criteria["panic"]
    assert (len(panic.group("attack_symptoms").items), panic.group("attack_symptoms").min_count) == (13, 4)
    assert panic.duration is not None and panic.duration.min == Duration(1, "month")
    assert not panic.impairment.required
    pdd = criteria["persistent_depressive"]
    assert pdd.duration is not None and pdd.duration.min == Duration(2, "year")
    assert (len(pdd.group("B").items), pdd.group("B").min_count) == (6, 2)


def test_trauma_cluster_structure(criteria: dict[str, Disorder]) -> None:
    ptsd = criteria["ptsd"]
    minimums = {g.id: (len(g.items), g.min_count) for g in ptsd.groups}
    assert minimums == {"A": (4, 1), "B": (5, 1), "C": (2, 1), "D": (7, 2), "E": (6, 2)}
    assert ptsd.duration is not None and ptsd.duration.min_exclusive
    assert ptsd.duration.min == Duration(1, "month")
    acute = criteria["acute_stress"]
    assert (len(acute.group("B").items), acute.group("B").min_count) == (14, 9)
    assert acute.duration is not None and acute.duration.max == Duration(1, "month")
    assert acute.duration.min == Duration(3, "day")


def test_adhd_schizophrenia_and_bipolar_structure(criteria: dict[str, Disorder]) -> None:
    adhd = criteria["adhd"]
    domains = adhd.alternative_sets()["A"]
    assert [(len(g.items), g.min_count) for g in domains] == [(9, 6), (9, 6)]
    assert all(
        g.age_threshold is not None and g.age_threshold.from_age == 17 and g.age_threshold.min_count == 5
        for g in domains
    )
    assert adhd.onset is not None and adhd.onset.before_age == 12
    scz = criteria["schizophrenia"]
    group = scz.group("A")
    assert (len(group.items), group.min_count) == (5, 2)
    assert set(group.required_any) == {"delusions", "hallucinations", "disorganised_speech"}
    assert group.duration is not None and group.duration.min == Duration(1, "month")
    assert scz.duration is not None and scz.duration.min == Duration(6, "month")
    mania = criteria["bipolar_1"].group("B")
    assert mania.min_count == 3 and mania.raised_threshold is not None
    assert mania.raised_threshold.min_count == 4
    bipolar_2 = criteria["bipolar_2"]
    hypomania_duration = bipolar_2.group("hypo_features").duration
    assert hypomania_duration is not None and hypomania_duration.min == Duration(4, "day")


# --- the validator on broken files -------------------------------------------------------------

BROKEN = [
    ("min_count_too_large", "groups[0].min_count", "outside 1..3"),
    ("core_not_in_group", "groups[0].required_any", "anhedonia"),
    ("unknown_duration_unit", "duration.min", "unknown duration unit 'fortnights'"),
    ("duplicate_item_id", "items[2].id", "duplicate item id 'poor_sleep'"),
    ("missing_source", "items[0].source", "missing"),
    ("source_without_criterion", "items[1].source", "does not cite a DSM-5 criterion"),
    ("unknown_group_item", "groups[0].items", "'appetite' is not in the item list"),
    ("typical_below_minimum", "duration.typical", "meets the rule's min"),
    ("unknown_placeholder", "items[0].lay[0]", "unknown placeholder '{subject}'"),
    ("raw_pronoun", "items[1].lay[0]", "person word 'her'"),
    ("unknown_field", "groups[0].min_cout", "unknown field"),
    ("unknown_exclusion_kind", "exclusions[0].kind", "unknown kind 'alcohol'"),
    ("unknown_threshold_group", "threshold_group", "'B' is neither a group"),
    ("id_not_file_name", "id", "differs from the file name"),
    ("impairment_without_lay", "impairment.lay", "missing"),
]


def test_the_fixtures_base_file_is_valid() -> None:
    # Every broken fixture is this file with one change, so each error is due to that change.
    assert load_disorder(FIXTURES / "valid_example.yaml").id == "valid_example"


@pytest.mark.parametrize(("name", "field", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_validator_rejects_broken_file_naming_the_field(name: str, field: str, problem: str) -> None:
    path = FIXTURES / f"{name}.yaml"
    with pytest.raises(CriteriaError) as caught:
        load_disorder(path)
    error = caught.value
    assert error.field == field
    assert problem in error.problem
    assert str(path) in str(error) and "Fix:" in str(error)
    assert isinstance(error, ValueError)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CriteriaError, match=r"no \*\.yaml criteria files"):
        load_criteria(tmp_path)


def test_not_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(CriteriaError, match="not valid YAML"):
        load_disorder(path)


# --- the checker on hand-made cases ------------------------------------------------------------

MDD_FIVE = frozenset({"depressed_mood", "fatigue", "sleep_disturbance", "poor_concentration", "worthlessness_or_guilt"})


def mdd_case(**changes: object) -> Case:
    base = Case("major_depressive", MDD_FIVE, age=30, duration=Duration(3, "week"), impairment=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_mdd_five_symptoms_with_core_for_two_weeks_meets(criteria: dict[str, Disorder]) -> None:
    verdict = check_case(criteria["major_depressive"], mdd_case(duration=Duration(2, "week")))
    assert verdict.meets and verdict.failed == ()


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"present": MDD_FIVE - {"fatigue"}}, ("group:A",)),
        ({"present": MDD_FIVE - {"depressed_mood"} | {"psychomotor_change"}}, ("group:A",)),
        ({"duration": Duration(13, "day")}, ("duration",)),
        ({"impairment": False}, ("impairment",)),
        ({"exclusions_present": frozenset({"substance"})}, ("exclusion:substance",)),
        ({"duration": Duration(1, "week"), "impairment": False}, ("duration", "impairment")),
    ],
    ids=["four_symptoms", "no_core_symptom", "thirteen_days", "no_impairment", "substance", "two_failures"],
)
def test_mdd_checker_names_each_failing_criterion(
    criteria: dict[str, Disorder], changes: dict[str, object], failed: tuple[str, ...]
) -> None:
    verdict = check_case(criteria["major_depressive"], mdd_case(**changes))
    assert not verdict.meets
    assert verdict.failed == failed


def test_ptsd_needs_more_than_one_month(criteria: dict[str, Disorder]) -> None:
    present = frozenset(
        {
            "exposure_direct",
            "nightmares",
            "avoids_reminders",
            "detachment",
            "negative_beliefs",
            "hypervigilance",
            "exaggerated_startle",
        }
    )
    case = Case("ptsd", present, age=40, duration=Duration(1, "month"), impairment=True)
    assert check_case(criteria["ptsd"], case).failed == ("duration",)
    assert check_case(criteria["ptsd"], replace(case, duration=Duration(5, "week"))).meets
    one_d = replace(case, present=present - {"detachment"}, duration=Duration(5, "week"))
    assert check_case(criteria["ptsd"], one_d).failed == ("group:D",)


def test_acute_stress_duration_window(criteria: dict[str, Disorder]) -> None:
    disorder = criteria["acute_stress"]
    b_items = disorder.group("B").items[:9]
    case = Case(
        "acute_stress",
        frozenset({"exposure_witnessed", *b_items}),
        age=30,
        duration=Duration(30, "day"),
        impairment=True,
    )
    assert check_case(disorder, case).meets
    assert check_case(disorder, replace(case, duration=Duration(31, "day"))).failed == ("duration",)
    assert check_case(disorder, replace(case, duration=Duration(2, "day"))).failed == ("duration",)


def test_adhd_threshold_depends_on_age_and_onset(criteria: dict[str, Disorder]) -> None:
    adhd = criteria["adhd"]
    five = frozenset(adhd.group("inattention").items[:5]) | {"setting_work", "setting_home"}
    case = Case("adhd", five, age=17, duration=Duration(10, "year"), onset_age=7, impairment=True)
    assert check_case(adhd, case).meets
    assert check_case(adhd, replace(case, age=16)).failed == ("group_set:A",)
    assert check_case(adhd, replace(case, onset_age=12)).failed == ("onset",)
    hyperactive = frozenset(adhd.group("hyperactivity_impulsivity").items[:5])
    other_domain = replace(case, present=hyperactive | {"setting_work", "setting_social"})
    assert check_case(adhd, other_domain).meets


def test_mania_needs_four_symptoms_when_mood_is_only_irritable(criteria: dict[str, Disorder]) -> None:
    bipolar = criteria["bipolar_1"]
    three = {"grandiosity", "less_need_for_sleep", "pressured_speech"}
    case = Case(
        "bipolar_1",
        frozenset({"irritable_mood", "increased_energy", *three}),
        age=30,
        duration=Duration(10, "day"),
        impairment=True,
    )
    assert check_case(bipolar, case).failed == ("group:B",)
    assert check_case(bipolar, replace(case, present=case.present | {"racing_thoughts"})).meets
    assert check_case(bipolar, replace(case, present=case.present | {"elevated_mood"})).meets


def test_schizophrenia_needs_a_core_symptom_and_both_durations(criteria: dict[str, Disorder]) -> None:
    scz = criteria["schizophrenia"]
    case = Case(
        "schizophrenia",
        frozenset({"delusions", "negative_symptoms"}),
        age=25,
        duration=Duration(8, "month"),
        group_durations={"A": Duration(1, "month")},
        impairment=True,
    )
    assert check_case(scz, case).meets
    no_core = replace(case, present=frozenset({"disorganised_or_catatonic_behaviour", "negative_symptoms"}))
    assert check_case(scz, no_core).failed == ("group:A",)
    assert check_case(scz, replace(case, group_durations={})).failed == ("group_duration:A",)
    assert check_case(scz, replace(case, duration=Duration(5, "month"))).failed == ("duration",)


def test_ocd_obsessions_alone_are_enough(criteria: dict[str, Disorder]) -> None:
    ocd = criteria["ocd"]
    case = Case("ocd", frozenset({"intrusive_thoughts", "tries_to_neutralise", "time_consuming"}), age=30)
    assert check_case(ocd, case).meets
    neither = replace(case, present=frozenset({"intrusive_thoughts", "time_consuming"}))
    assert check_case(ocd, neither).failed == ("group_set:A",)


def test_checker_rejects_ids_the_disorder_does_not_define(criteria: dict[str, Disorder]) -> None:
    with pytest.raises(ValueError, match="'appetite', which disorder 'major_depressive' does not define"):
        check_case(criteria["major_depressive"], mdd_case(present=MDD_FIVE | {"appetite"}))
    with pytest.raises(ValueError, match="checked against"):
        check_case(criteria["ptsd"], mdd_case())


def test_verdict_explains_its_failures(criteria: dict[str, Disorder]) -> None:
    verdict = check_case(criteria["major_depressive"], mdd_case(duration=Duration(1, "week")))
    assert "duration: 1 week, needs at least 2 weeks" in verdict.explanation()


def test_case_record_round_trip() -> None:
    case = Case(
        "schizophrenia",
        frozenset({"delusions", "hallucinations"}),
        age=25,
        duration=Duration(8, "month"),
        group_durations={"A": Duration(1, "month")},
        onset_after_event=Duration(3, "week"),
        episodes_per_week=0.5,
        impairment=True,
        exclusions_present=frozenset({"substance"}),
    )
    assert Case.from_record(case.as_record()) == case
