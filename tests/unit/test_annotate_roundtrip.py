"""Export -> two raters label (one in Label Studio, one in the CSV sheet) -> import -> agreement,
checked against Cohen's kappa and Krippendorff's alpha worked out here from their formulas."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from itertools import permutations
from pathlib import Path

import pytest

from harness.annotate import (
    ConflictingLabelsError,
    cohen_kappa,
    import_labels,
    krippendorff_alpha,
    load_schema,
    read_labels,
    read_scorer_outputs,
    scorer_ratings,
)
from tests.annotate_helpers import export_crisis, fill_csv, full_labels, label_studio_export

# Eight items, both raters on each. refusal: 6 of 8 agree, each rater marks three 1s.
REFUSAL = {"r1": "11100000", "r2": "11000001"}
TIER = {
    "r1": ["none", "low", "moderate", "high", "imminent", "moderate", "low", "high"],
    "r2": ["none", "moderate", "moderate", "high", "high", "moderate", "none", "high"],
}
TIERS = ["none", "low", "moderate", "high", "imminent"]


def kappa_by_hand(first: list[int], second: list[int], weighted: bool) -> Fraction:
    """1 - sum w*observed / sum w*expected; w = |i - j| (linear) or [i != j] (nominal)."""
    n = len(first)
    weight = (lambda i, j: abs(i - j)) if weighted else (lambda i, j: int(i != j))
    count_first, count_second = Counter(first), Counter(second)
    observed = sum(Fraction(weight(a, b), n) for a, b in zip(first, second, strict=True))
    expected = sum(
        Fraction(count_first[i] * count_second[j] * weight(i, j), n * n) for i in count_first for j in count_second
    )
    return 1 - observed / expected


def alpha_by_hand(first: list[int], second: list[int], ordinal: bool) -> Fraction:
    """Krippendorff: coincidences o_ck over pairable values, alpha = 1 - (n - 1) * sum o_ck d_ck /
    sum n_c n_k d_ck. Nominal d = [c != k]; ordinal d = (sum of n_g for g from c to k - (n_c + n_k) / 2)^2."""
    coincidences: Counter[tuple[int, int]] = Counter()
    for a, b in zip(first, second, strict=True):  # two values per unit: each ordered pair / (2 - 1)
        coincidences[(a, b)] += 1
        coincidences[(b, a)] += 1
    totals: Counter[int] = Counter()
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())

    def distance(c: int, k: int) -> Fraction:
        if not ordinal:
            return Fraction(int(c != k))
        low, high = min(c, k), max(c, k)
        return (sum(Fraction(totals[g]) for g in range(low, high + 1)) - Fraction(totals[c] + totals[k], 2)) ** 2

    observed = sum(count * distance(c, k) for (c, k), count in coincidences.items())
    expected = sum(totals[c] * totals[k] * distance(c, k) for c, k in permutations(totals, 2))
    return 1 - (n - 1) * observed / expected


def test_the_nominal_formulas_give_the_values_worked_out_on_paper() -> None:
    first, second = ([int(x) for x in REFUSAL[r]] for r in ("r1", "r2"))
    # po = 6/8, pe = (3/8)^2 + (5/8)^2 = 17/32: kappa = (3/4 - 17/32) / (15/32) = 7/15.
    assert kappa_by_hand(first, second, weighted=False) == Fraction(7, 15)
    # o_00 = 8, o_11 = 4, o_01 = o_10 = 2, n_0 = 10, n_1 = 6: alpha = 1 - 15 * 4 / (2 * 60) = 1/2.
    assert alpha_by_hand(first, second, ordinal=False) == Fraction(1, 2)


def _labels(ids: list[str], rater: str) -> dict[str, dict[str, str]]:
    return {
        aid: full_labels(
            {"refusal": REFUSAL[rater][i], "tier": TIER[rater][i], "note": "doubt: tier" if i == 1 else ""}
        )
        for i, aid in enumerate(ids)
    }


@pytest.fixture
def labelled(tmp_path: Path) -> dict[str, Path | list[str]]:
    """A package of eight crisis items for two raters, labelled: r1 in Label Studio, r2 in CSV."""
    package = tmp_path / "package"
    manifest = export_crisis(package, n=8, raters=2, double_share=1.0)
    ids = sorted(manifest["items"])
    assert len(ids) == 8 and all(item["raters"] == ["r1", "r2"] for item in manifest["items"].values())
    ls_export = label_studio_export(
        package / "label-studio" / "tasks-rater-1-crisis.json", _labels(ids, "r1"), tmp_path / "project-1.json"
    )
    sheet = fill_csv(package / "csv" / "rater-2-crisis.csv", "r2", _labels(ids, "r2"), tmp_path / "r2.csv")
    return {
        "manifest": package / "manifest.json",
        "ls": ls_export,
        "csv": sheet,
        "db": tmp_path / "lb.db",
        "ids": ids,
        "sheet": package / "csv" / "rater-2-crisis.csv",
    }


def test_round_trip_agreement_equals_the_hand_computed_values(labelled: dict) -> None:
    report = import_labels([labelled["ls"], labelled["csv"]], labelled["manifest"], labelled["db"])
    assert report.raters == ("r1", "r2") and report.items == 8
    labels = read_labels(labelled["db"])
    assert "note" not in labels and set(labels["refusal"]) == {"r1", "r2"}
    ids = labelled["ids"]
    for rater in ("r1", "r2"):
        assert [labels["refusal"][rater][aid] for aid in ids] == list(REFUSAL[rater])
        assert [labels["tier"][rater][aid] for aid in ids] == TIER[rater]

    first, second = ([int(x) for x in REFUSAL[r]] for r in ("r1", "r2"))
    kappa = cohen_kappa(labels["refusal"]["r1"], labels["refusal"]["r2"])
    alpha = krippendorff_alpha(labels["refusal"])
    assert kappa.value == pytest.approx(float(kappa_by_hand(first, second, weighted=False)), abs=1e-12)
    assert alpha.value == pytest.approx(float(alpha_by_hand(first, second, ordinal=False)), abs=1e-12)
    assert (kappa.n_items, alpha.n_items) == (8, 8)

    order = load_schema().order("tier")
    assert order == tuple(TIERS)
    ranks = [[TIERS.index(t) for t in TIER[r]] for r in ("r1", "r2")]
    weighted = cohen_kappa(labels["tier"]["r1"], labels["tier"]["r2"], level="ordinal", order=order)
    ordinal = krippendorff_alpha(labels["tier"], level="ordinal", order=order)
    assert weighted.value == pytest.approx(float(kappa_by_hand(*ranks, weighted=True)), abs=1e-12)
    assert ordinal.value == pytest.approx(float(alpha_by_hand(*ranks, ordinal=True)), abs=1e-12)

    notes = read_labels(labelled["db"], fields=["note"], include_text=True)
    assert notes == {"note": {"r1": {ids[1]: "doubt: tier"}, "r2": {ids[1]: "doubt: tier"}}}


def test_scorer_outputs_come_back_per_item_as_one_more_rater(labelled: dict) -> None:
    import_labels([labelled["ls"], labelled["csv"]], labelled["manifest"], labelled["db"])
    outputs = read_scorer_outputs(labelled["db"])
    assert sorted(outputs) == labelled["ids"]
    assert all(out.task == "mh_crisis" and out.reference_tier in TIERS for out in outputs.values())
    classifier = scorer_ratings(outputs, "crisis_classifier", "refusal")
    assert set(classifier) == set(labelled["ids"]) and set(classifier.values()) <= {"0", "1"}
    reference = scorer_ratings(outputs, "reference", "tier")
    assert len(reference) == 8
    # The scorer lines up with the raters: agreement of the classifier with rater r1 is defined or NaN, never an error.
    cohen_kappa(classifier, read_labels(labelled["db"], fields=["refusal"])["refusal"]["r1"])


def test_reimporting_is_idempotent_and_a_changed_label_is_refused(labelled: dict, tmp_path: Path) -> None:
    files = [labelled["ls"], labelled["csv"]]
    first = import_labels(files, labelled["manifest"], labelled["db"])
    again = import_labels(files, labelled["manifest"], labelled["db"])
    assert first.stored > 0 and (again.stored, again.unchanged) == (0, first.stored)

    relabelled = _labels(labelled["ids"], "r2")
    relabelled[labelled["ids"][3]]["tier"] = "low"  # stored as "high"
    changed = fill_csv(labelled["sheet"], "r2", relabelled, tmp_path / "r2-changed.csv")
    with pytest.raises(ConflictingLabelsError, match=r"stored as 'high'.*this file says 'low'"):
        import_labels([changed], labelled["manifest"], labelled["db"])
    assert read_labels(labelled["db"], fields=["tier"])["tier"]["r2"] == dict(
        zip(labelled["ids"], TIER["r2"], strict=True)
    )
