"""Empathy scorer: artifact integrity, rankings on hand-written and adversarial cases, prompts' hygiene.

Tests that read the shared EPITOME folder skip when it is absent (e.g. outside the project
machines); everything else runs on what the repository ships.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import MindgateError
from harness.paths import PROJECT_DIR
from harness.scoring._empathy_artifact import ARTIFACT_JSON, ARTIFACT_NPZ, load_models
from harness.scoring._empathy_v1 import LinearEmpathyScorer
from harness.scoring._epitome import (
    HELDOUT_FRACTION,
    MECHANISMS,
    SPLIT_SEED,
    epitome_file_hashes,
    heldout_ids_digest,
    read_epitome_pairs,
    split_pairs,
)
from harness.scoring._pair_encoder import ADAPTER_WEIGHTS, ARTIFACTS_DIR
from harness.scoring.empathy import (
    ARTIFACT_NAME,
    EmpathyArtifactError,
    EmpathyScorer,
    combine_mechanisms,
    mechanism_summary,
)
from harness.scrub import scrub_personal_data

EPITOME_DIR = PROJECT_DIR.parent / "shared" / "data" / "epitome"
CASES = Path(__file__).parent / "cases" / "empathy_cases.jsonl"
# Written before the cross-encoder was trained and never used to train or tune it.
ADVERSARIAL = Path(__file__).parent / "cases" / "empathy_adversarial.jsonl"
ADVERSARIAL_KINDS = ("advice_as_questions", "interrogation", "cold_names_emotion", "sympathy_pasted_on_advice", "echo")
# Fixed before the adversarial file was first scored: the warm reply must rank above the others
# in at least this share of cases overall and for each kind.
MIN_WIN_SHARE = 0.9
MIN_WIN_SHARE_PER_KIND = 0.8
PROMPTS = PROJECT_DIR / "tasks" / "mh_empathy" / "data" / "prompts.jsonl"
needs_shared_epitome = pytest.mark.skipif(not EPITOME_DIR.is_dir(), reason=f"{EPITOME_DIR} is absent")
# The smallest margin by which a hand-written empathic reply must beat its dismissive pair.
MIN_MARGIN = 0.1


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def scorer() -> EmpathyScorer:
    return EmpathyScorer()


@pytest.fixture(scope="module")
def case_scores(scorer: EmpathyScorer) -> list[tuple[dict[str, Any], Any, Any]]:
    """Every case's better and worse reply, scored in one batch."""
    cases = _read_jsonl(CASES)
    scores = scorer.score_batch([(c["post"], c[side]) for c in cases for side in ("better", "worse")])
    return [(case, scores[2 * i], scores[2 * i + 1]) for i, case in enumerate(cases)]


@pytest.fixture(scope="module")
def adversarial_margins(scorer: EmpathyScorer) -> dict[str, dict[str, float]]:
    """Per case id and kind: warm reply's value minus that kind's reply's value."""
    cases = _read_jsonl(ADVERSARIAL)
    pairs = [(c["post"], c["warm"]) for c in cases] + [(c["post"], a["reply"]) for c in cases for a in c["adversarial"]]
    values = iter(score.value for score in scorer.score_batch(pairs))
    warm = {c["id"]: next(values) for c in cases}
    return {c["id"]: {a["kind"]: warm[c["id"]] - next(values) for a in c["adversarial"]} for c in cases}


@pytest.fixture(scope="module")
def epitome_split() -> tuple[list[Any], list[Any]]:
    return split_pairs(read_epitome_pairs(EPITOME_DIR), SPLIT_SEED, HELDOUT_FRACTION)


def test_artifact_describes_three_level_heads_and_its_weights(scorer: EmpathyScorer) -> None:
    spec = scorer.encoder.spec
    assert [group.name for group in spec.groups] == list(MECHANISMS)
    assert all(group.kind == "multiclass" and group.labels == ("0", "1", "2") for group in spec.groups)
    assert scorer.record["weights_sha256"] == scorer.encoder.weights_sha256
    assert scorer.record["split"]["seed"] == SPLIT_SEED
    assert scorer.record["split"]["heldout_fraction"] == HELDOUT_FRACTION


def test_previous_scorer_artifact_loads_without_sklearn_objects() -> None:
    models, record = load_models()
    assert set(models) == set(MECHANISMS)
    probabilities = models["explorations"].predict_proba(np.zeros((2, models["explorations"].mean.shape[0])))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(record["heldout"]) == set(MECHANISMS)


@needs_shared_epitome
def test_recorded_training_data_matches_shared_files(
    scorer: EmpathyScorer, epitome_split: tuple[list[Any], list[Any]]
) -> None:
    train, heldout = epitome_split
    assert not {p.sp_id for p in train} & {p.sp_id for p in heldout}
    for record in (scorer.record, json.loads(ARTIFACT_JSON.read_text(encoding="utf-8"))):
        assert record["training_data"]["sha256"] == epitome_file_hashes(EPITOME_DIR)
        assert heldout_ids_digest(heldout) == record["split"]["heldout_sp_ids_sha256"]
    assert scorer.record["examples"] == len(train)


def _wins(margins: dict[str, dict[str, float]], kind: str) -> int:
    return sum(per_case[kind] > 0 for per_case in margins.values())


@pytest.mark.xfail(
    strict=True,
    reason="target not reached by the shipped weights (177 of 200; advice as questions 31/40, interrogations "
    "30/40: reports/validation/empathy_scorer.md); strict, so reaching it turns this into a failure to update",
)
def test_warm_reply_outranks_adversarial_ones(adversarial_margins: dict[str, dict[str, float]]) -> None:
    """Advice as questions, interrogations, cold replies naming an emotion, sympathy pasted onto
    advice and echoes of the post must rank below the warm, specific reply to the same post."""
    assert len(adversarial_margins) >= 40
    margins = [m for per_case in adversarial_margins.values() for m in per_case.values()]
    losses = {
        f"{case}:{kind}": round(m, 3) for case, per in adversarial_margins.items() for kind, m in per.items() if m <= 0
    }
    assert sum(m > 0 for m in margins) >= MIN_WIN_SHARE * len(margins), losses
    for kind in ADVERSARIAL_KINDS:
        kind_margins = [per_case[kind] for per_case in adversarial_margins.values()]
        assert sum(m > 0 for m in kind_margins) >= MIN_WIN_SHARE_PER_KIND * len(kind_margins), (kind, losses)


def test_question_marks_buy_less_than_they_did_from_the_first_scorer(
    scorer: EmpathyScorer, adversarial_margins: dict[str, dict[str, float]]
) -> None:
    """Advice phrased as questions and strings of hostile questions outscored warm replies under the
    first scorer (question counts were among its features); the cross-encoder must lose to them
    less often, on the same adversarial file."""
    cases = _read_jsonl(ADVERSARIAL)
    first = LinearEmpathyScorer()
    kinds = ("advice_as_questions", "interrogation")
    pairs = [(c["post"], c["warm"]) for c in cases] + [
        (c["post"], a["reply"]) for c in cases for a in c["adversarial"] if a["kind"] in kinds
    ]
    values = iter(score.value for score in first.score_batch(pairs))
    warm = {c["id"]: next(values) for c in cases}
    old = {
        c["id"]: {a["kind"]: warm[c["id"]] - next(values) for a in c["adversarial"] if a["kind"] in kinds}
        for c in cases
    }
    for kind in kinds:
        assert _wins(adversarial_margins, kind) > _wins(old, kind), kind


def test_replies_that_fooled_the_first_scorer_rank_below_the_warm_one(
    adversarial_margins: dict[str, dict[str, float]],
) -> None:
    """The post that showed the problem: advice as a question, hostile questions and a cold
    dismissal that names an emotion all outscored (or half-matched) a warm reply before."""
    case = _read_jsonl(ADVERSARIAL)[0]
    assert case["post"] == "I lost my job today and I feel like a failure. I do not know what to do."
    first = adversarial_margins[case["id"]]
    for kind in ("advice_as_questions", "interrogation", "cold_names_emotion"):
        assert first[kind] > 0, (kind, first)


def test_empathic_reply_outranks_dismissive_one(case_scores: list[tuple[dict[str, Any], Any, Any]]) -> None:
    for case, better, worse in case_scores:
        if case["kind"] == "overall":
            better_value, worse_value = better.value, worse.value
        else:
            better_value = better.metadata["mechanisms"][case["kind"]]["score"]
            worse_value = worse.metadata["mechanisms"][case["kind"]]["score"]
        assert better_value - worse_value >= MIN_MARGIN, f"{case['id']}: {better_value:.3f} vs {worse_value:.3f}"


def test_scores_are_bounded_and_explained(case_scores: list[tuple[dict[str, Any], Any, Any]]) -> None:
    for _, *scores in case_scores:
        for score in scores:
            assert 0.0 <= score.value <= 1.0
            for mechanism in MECHANISMS:
                summary = score.metadata["mechanisms"][mechanism]
                assert 0.0 <= summary["score"] <= 1.0
                assert summary["level"] in (0, 1, 2)
                assert sum(summary["probabilities"].values()) == pytest.approx(1.0)
                assert f"level {summary['level']}" in score.explanation
            assert score.answer is not None and re.fullmatch(r"[012]/[012]/[012]", score.answer)


def test_combined_value_is_mean_expected_level_over_two() -> None:
    summaries = {
        "emotional_reactions": mechanism_summary(np.array([0.0, 0.0, 1.0])),
        "interpretations": mechanism_summary(np.array([0.5, 0.5, 0.0])),
        "explorations": mechanism_summary(np.array([1.0, 0.0, 0.0])),
    }
    assert summaries["interpretations"]["score"] == pytest.approx(0.25)
    score = combine_mechanisms(summaries)
    assert score.value == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    assert score.answer == "2/0/0"
    assert "ER emotional reactions: level 2" in score.explanation


def test_empty_batch_needs_no_model() -> None:
    assert EmpathyScorer(Path("/nonexistent")).score_batch([]) == []


def test_missing_or_altered_weights_raise_typed_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EmpathyArtifactError, match="make scorers") as caught:
        EmpathyScorer(tmp_path / "absent").score("I feel alone.", "I'm sorry.")
    assert isinstance(caught.value, MindgateError)
    copy = tmp_path / ARTIFACT_NAME
    shutil.copytree(ARTIFACTS_DIR / ARTIFACT_NAME, copy)
    data = bytearray((copy / ADAPTER_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / ADAPTER_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(EmpathyArtifactError, match="sha256") as caught:
        EmpathyScorer(copy).score("I feel alone.", "I'm sorry.")
    assert str(copy) in str(caught.value)


def test_previous_scorer_refuses_a_damaged_artifact(tmp_path: Path) -> None:
    npz, record = tmp_path / "empathy_v1.npz", tmp_path / "empathy_v1.json"
    shutil.copy(ARTIFACT_JSON, record)
    data = bytearray(ARTIFACT_NPZ.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(MindgateError, match=r"train_empathy_v1\.py"):
        LinearEmpathyScorer(npz, record).score("I feel alone.", "I'm sorry.")
    record.write_text(record.read_text(encoding="utf-8").replace('"feature_layout": "', '"feature_layout": "old-'))
    with pytest.raises(MindgateError, match="feature_layout"):
        load_models(ARTIFACT_NPZ, record)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("see https://example.com/a?b=1 or www.reddit.com/r/x", "see [link] or [link]"),
        ("mail me at jo.doe@mail.org or @jodoe", "mail me at [email] or [user]"),
        ("ask u/someone in /r/depression, post t3_65m92s", "ask [user] in [forum], post [id]"),
        ("call 1-800-273-8255 or (555) 123-4567", "call [phone] or [phone]"),
        (
            "I am 14, it was 2019 and I took 20-30 pills &amp; cried",
            "I am 14, it was 2019 and I took 20-30 pills & cried",
        ),
    ],
)
def test_scrub_personal_data(raw: str, expected: str) -> None:
    assert scrub_personal_data(raw) == expected


def test_prompts_are_clean_labelled_and_non_commercial() -> None:
    prompts = _read_jsonl(PROMPTS)
    assert 100 <= len(prompts) <= 150
    assert len({p["id"] for p in prompts}) == len(prompts)
    assert len({p["text"].casefold() for p in prompts}) == len(prompts)
    assert {p["source"] for p in prompts} == {"epitome", "esconv"}
    personal = re.compile(r"https?://|www\.|\S+@\S+\.\w+|(?<!\w)@\w+|(?<![\w/])/?[ur]/\w+", re.IGNORECASE)
    for prompt in prompts:
        assert prompt["non_commercial"] is True and prompt["licence"], prompt["id"]
        assert not personal.search(prompt["text"]), prompt["id"]
        assert len(prompt["text"].split()) >= 8, prompt["id"]
    licences = {p.name for p in PROMPTS.parent.glob("LICENSE-*")}
    assert any(n.startswith("LICENSE-epitome") for n in licences) and any(
        n.startswith("LICENSE-esconv") for n in licences
    )
    for name in licences:
        assert "NON-COMMERCIAL" in (PROMPTS.parent / name).read_text(encoding="utf-8")


@needs_shared_epitome
def test_prompts_share_no_post_with_scorer_training(epitome_split: tuple[list[Any], list[Any]]) -> None:
    train, heldout = epitome_split
    epitome_prompts = [p for p in _read_jsonl(PROMPTS) if p["source"] == "epitome"]
    assert epitome_prompts
    for prompt in epitome_prompts:
        # A given name redacted after selection stands for any one word of the original post.
        pattern = re.compile(re.escape(prompt["text"]).replace(re.escape("[name]"), r"\w+"), re.IGNORECASE)
        assert not any(pattern.fullmatch(p.post) for p in train), prompt["id"]
        assert any(pattern.fullmatch(p.post) for p in heldout), prompt["id"]
