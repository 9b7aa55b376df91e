"""The gate's notes on how far each rule's scorer agrees with people (rules file: human_agreement)."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.gate import GateInputError, GateRulesError, decision_record, decision_text, evaluate_gate, load_rules
from harness.gate._agreement import RECORD_FORMAT
from tests.runfactory import HARMFUL_FLOOR, QUIZ_NON_INFERIOR, crisis_rows, quiz_rows, write_run


def _runs(tmp_path: Path) -> tuple[Path, Path]:
    baseline = write_run(tmp_path / "runs", "base", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(150))})
    candidate = write_run(
        tmp_path / "runs", "cand", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(150))}, adapter="a"
    )
    return candidate, baseline


def _rules(folder: Path, agreement: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"version": 1, "rules": [HARMFUL_FLOOR, QUIZ_NON_INFERIOR]}
    if agreement is not None:
        document["human_agreement"] = agreement
    path = folder / "gate.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _record(folder: Path, metrics: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agreement.json").write_text(json.dumps({"format": RECORD_FORMAT, "metrics": metrics}))


def _entry(value: float | None, n: int = 40) -> dict[str, Any]:
    return {
        "scorer": "crisis judgement",
        "field": "harmful",
        "statistic": "cohen_kappa",
        "value": value,
        "ci_low": None if value is None else value - 0.2,
        "ci_high": None if value is None else value + 0.1,
        "n_items": n,
    }


def test_a_scorer_below_the_minimum_is_noted_and_the_verdict_does_not_change(tmp_path: Path) -> None:
    candidate, baseline = _runs(tmp_path)
    rules = _rules(tmp_path / "rules", {"file": "agreement.json", "minimum": 0.6})
    _record(tmp_path / "rules", {"mh_crisis/harmful": _entry(0.42), "quiz/acc": _entry(0.9)})
    without = evaluate_gate(candidate, baseline, _rules(tmp_path / "plain", None))
    decision = evaluate_gate(candidate, baseline, rules)
    assert decision.verdict == without.verdict == "accept"
    assert without.notes == ()
    assert len(decision.notes) == 1
    (note,) = decision.notes
    assert note.startswith("no-harm: its scorer (crisis judgement, label harmful)")
    assert "cohen_kappa 0.42 [95% CI 0.22, 0.52] on 40 items" in note and "below the 0.6" in note
    assert f"note: {note}" in decision_text(decision)
    assert decision_record(decision)["details"]["notes"] == [note]


def test_unmeasured_and_unmeasurable_scorers_are_noted(tmp_path: Path) -> None:
    candidate, baseline = _runs(tmp_path)
    rules = _rules(tmp_path / "rules", {"file": "agreement.json", "minimum": 0.6})
    _record(tmp_path / "rules", {"mh_crisis/harmful": _entry(None, n=12)})
    notes = evaluate_gate(candidate, baseline, rules).notes
    assert notes[0] == (
        "no-harm: its scorer (crisis judgement, label harmful) could not be compared with people: agreement not "
        "measurable on 12 items (one label only)"
    )
    assert notes[1] == "no human agreement measured for the scorer of quiz-ni (record agreement.json)"


def test_a_missing_record_is_one_note_naming_the_commands(tmp_path: Path) -> None:
    candidate, baseline = _runs(tmp_path)
    rules = _rules(tmp_path / "rules", {"file": "../validation/agreement.json", "minimum": 0.6})
    (note,) = evaluate_gate(candidate, baseline, rules).notes
    assert "no human agreement record at ../validation/agreement.json" in note
    assert "mindgate annotate report" in note


def test_a_damaged_record_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    candidate, baseline = _runs(tmp_path)
    rules = _rules(tmp_path / "rules", {"file": "agreement.json", "minimum": 0.6})
    (tmp_path / "rules" / "agreement.json").write_text('{"metrics": {}}')
    with pytest.raises(GateInputError, match=r"agreement\.json: not a human agreement record"):
        evaluate_gate(candidate, baseline, rules)


@pytest.mark.parametrize(
    ("agreement", "field"),
    [
        ({"file": "/abs/agreement.json", "minimum": 0.6}, "human_agreement.file"),
        ({"file": "agreement.json", "minimum": 1.5}, "human_agreement.minimum"),
        ({"file": "agreement.json", "minimum": True}, "human_agreement.minimum"),
        ({"file": "agreement.json", "minimum": 0.6, "level": 1}, "human_agreement.level"),
        (["agreement.json"], "human_agreement"),
    ],
)
def test_bad_policy_fields_are_refused_by_name(tmp_path: Path, agreement: Any, field: str) -> None:
    with pytest.raises(GateRulesError) as raised:
        load_rules(_rules(tmp_path, agreement))
    assert raised.value.field == field
    assert "human_agreement" in str(raised.value)


def test_the_shipped_rules_set_a_minimum_and_point_at_the_validation_record() -> None:
    rules = load_rules()
    assert rules.human_agreement is not None
    assert rules.human_agreement.file.name == "human_agreement.json"
    assert rules.human_agreement.file.parent.name == "validation"
    assert 0 < rules.human_agreement.minimum < 1
