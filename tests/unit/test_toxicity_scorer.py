"""Toxicity scorer: shipped artifact, case file, mental-health false positives, detoxify errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import CacheCorruptError, MindgateError
from harness.scoring._toxicity_artifact import ARTIFACT_NAME, ARTIFACTS_DIR, arrays_bytes, load_artifact
from harness.scoring._toxicity_data import clean_text, file_sha256
from harness.scoring._toxicity_eval import auroc, counts_at
from harness.scoring.toxicity import (
    BERT_DIR_ENV,
    CHECKPOINT_ENV,
    DetoxifyFilesMissingError,
    DetoxifyNotInstalledError,
    ToxicityBackendError,
    ToxicityScorer,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"
CASES = Path(__file__).with_name("cases") / "toxicity_cases.jsonl"
CASE_ROWS = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
SELF_DISCLOSURE = PROJECT_DIR / "rubrics" / "toxicity" / "self_disclosure.jsonl"
SD_ROWS = [json.loads(line) for line in SELF_DISCLOSURE.read_text(encoding="utf-8").splitlines() if line.strip()]
# Measured at threshold 0.5 (reports/validation/toxicity_scorer.md): 8 of 72 user messages (0.111,
# 95% CI 0.057-0.204) and 0 of 32 supportive replies are flagged. The bounds leave room for two more
# flagged messages (10/72 = 0.139) or one reply, and fail if the scorer drifts towards punishing disclosures.
MAX_USER_MESSAGE_FLAG_RATE = 0.15
MAX_SUPPORTIVE_REPLY_FLAG_RATE = 0.05


@pytest.fixture(scope="module")
def scorer() -> ToxicityScorer:
    return ToxicityScorer()


def test_artifact_loads_and_matches_its_record() -> None:
    artifact = load_artifact()
    assert artifact.classifier.weights.shape == (3, 384)
    assert artifact.classifier.class_names == ("hate", "offensive", "neither")
    assert 0.0 < artifact.threshold < 1.0
    assert artifact.record["split"]["seed"] == artifact.record["hyper_parameters"]["seed"]
    held_out = artifact.record["held_out"]
    assert held_out["davidson"]["n"] > 4000 and held_out["davidson"]["auroc"] > 0.95
    assert held_out["toxigen"]["auroc"] > 0.85
    assert held_out["counselchat"]["n_toxic"] == 0 and held_out["counselchat"]["flagged_rate"] < 0.02


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared data folder is not beside the project")
def test_artifact_records_the_sha256_of_its_training_data() -> None:
    record = load_artifact().record["training_data"]
    assert file_sha256(SHARED_DATA / "davidson-hate-offensive" / "labeled_data.csv") == record["davidson"]["sha256"]
    assert file_sha256(SHARED_DATA / "counselchat" / "20200325_counsel_chat.csv") == record["counselchat"]["sha256"]
    for name, digest in record["toxigen_demonstrations"].items():
        assert file_sha256(SHARED_DATA / "toxigen" / "demonstrations" / name) == digest, name


def test_tampered_arrays_are_refused(tmp_path: Path) -> None:
    for suffix in (".json", ".npz"):
        (tmp_path / f"{ARTIFACT_NAME}{suffix}").write_bytes((ARTIFACTS_DIR / f"{ARTIFACT_NAME}{suffix}").read_bytes())
    artifact = load_artifact(tmp_path)
    weights = artifact.classifier.weights.copy()
    weights[0, 0] += 1.0
    (tmp_path / f"{ARTIFACT_NAME}.npz").write_bytes(arrays_bytes(weights, artifact.classifier.bias))
    with pytest.raises(CacheCorruptError, match="does not match"):
        load_artifact(tmp_path)


def test_artifact_loads_without_sklearn() -> None:
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from harness.scoring._toxicity_artifact import load_artifact\n"
        "import numpy as np\n"
        "a = load_artifact(); p = a.classifier.class_probabilities(np.zeros((1, 384), np.float32))\n"
        "assert abs(p.sum() - 1) < 1e-6\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, check=True, timeout=60)


@pytest.mark.parametrize("case", CASE_ROWS, ids=[c["input"][:40] for c in CASE_ROWS])
def test_case_file(scorer: ToxicityScorer, case: dict[str, Any]) -> None:
    score = scorer.score(case["input"])
    assert score.metadata["is_toxic"] is case["expected_toxic"], score.explanation
    assert score.value == pytest.approx(case["reference_value"], abs=case["tolerance"]), score.explanation


def test_scores_are_probabilities_with_evidence(scorer: ToxicityScorer) -> None:
    texts = [row["input"] for row in CASE_ROWS] + ["", "   ", "ok", "a" * 5000]
    scores = scorer.score_batch(texts, batch_size=7)
    assert len(scores) == len(texts)
    for score in scores:
        assert 0.0 <= score.value <= 1.0
        assert score.metadata["backend"] == "default"
        assert score.metadata["threshold"] == scorer.threshold
        assert score.metadata["is_toxic"] is (score.value >= scorer.threshold)
        components = score.metadata["components"]
        assert set(components) == {"hate", "offensive", "neither"}
        assert sum(components.values()) == pytest.approx(1.0, abs=1e-6)
        assert score.value == pytest.approx(components["hate"] + components["offensive"], abs=1e-6)
        assert "threshold" in score.explanation


def test_batch_equals_single(scorer: ToxicityScorer) -> None:
    text = CASE_ROWS[0]["input"]
    assert scorer.score_batch([text, "hello there"])[0].value == pytest.approx(scorer.score(text).value, abs=1e-5)


def test_self_disclosure_false_positive_rate_stays_low(scorer: ToxicityScorer) -> None:
    scores = scorer.score_batch([row["text"] for row in SD_ROWS])
    flagged = np.array([s.metadata["is_toxic"] for s in scores])
    user = np.array([row["kind"] != "supportive_reply" for row in SD_ROWS])
    assert user.sum() >= 60 and (~user).sum() >= 25
    flagged_ids = [row["id"] for row, hit in zip(SD_ROWS, flagged, strict=True) if hit]
    assert flagged[user].mean() <= MAX_USER_MESSAGE_FLAG_RATE, flagged_ids
    assert flagged[~user].mean() <= MAX_SUPPORTIVE_REPLY_FLAG_RATE
    assert all(row["toxic"] is False for row in SD_ROWS)


def test_detoxify_without_files_says_which_files_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    monkeypatch.delenv(BERT_DIR_ENV, raising=False)
    with pytest.raises(DetoxifyFilesMissingError) as caught:
        ToxicityScorer(backend="detoxify")
    message = str(caught.value)
    assert isinstance(caught.value, MindgateError)
    for expected in (CHECKPOINT_ENV, BERT_DIR_ENV, ".ckpt", "config.json", "vocab.txt", "default backend"):
        assert expected in message


def test_detoxify_with_a_wrong_path_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "missing.ckpt"))
    monkeypatch.setenv(BERT_DIR_ENV, str(tmp_path))
    with pytest.raises(DetoxifyFilesMissingError, match=r"missing\.ckpt does not exist.*has no config\.json"):
        ToxicityScorer(backend="detoxify")


def test_detoxify_without_the_package_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    checkpoint = tmp_path / "toxic.ckpt"
    checkpoint.write_bytes(b"not used")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "detoxify", None)  # makes `import detoxify` fail
    scorer = ToxicityScorer(backend="detoxify", detoxify_checkpoint=checkpoint, detoxify_bert_dir=tmp_path / "bert")
    with pytest.raises(DetoxifyNotInstalledError, match="pip install detoxify"):
        scorer.score("hello")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ToxicityBackendError, match="default, detoxify"):
        ToxicityScorer(backend="perspective")


def test_clean_text_strips_handles_links_and_retweets() -> None:
    raw = "RT @someone: look &amp; see http://t.co/abc&#8221;wow call 800-273-8255 or mail a.b@c.org"
    assert clean_text(raw) == "look & see ”wow call or mail"


def test_auroc_and_counts_on_a_known_example() -> None:
    labels = np.array([True, True, False, False, True])
    scores = np.array([0.9, 0.4, 0.4, 0.1, 0.8])
    assert auroc(labels, scores) == pytest.approx((2 + 2 + 1.5) / 6)  # one tie counts one half
    counts = counts_at(labels, scores, 0.5)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 0, 1, 2)


def test_detoxify_backend_reads_the_checkpoint_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With a stand-in for the package, check what the backend does itself: the checkpoint is read
    weights-only, the model config is pointed at the local BERT folder, class names are normalised,
    and ``toxicity`` becomes the score."""
    import types

    import torch

    checkpoint = tmp_path / "toxic.ckpt"
    torch.save(
        {
            "config": {
                "arch": {"args": {"model_type": "bert-base-uncased", "model_name": "M", "tokenizer_name": "T"}},
                "dataset": {"args": {"classes": ["toxic", "severe_toxic", "identity_hate"]}},
            },
            "state_dict": {"w": torch.zeros(1)},
        },
        checkpoint,
    )
    bert_dir = tmp_path / "bert"
    bert_dir.mkdir()
    (bert_dir / "config.json").write_text("{}")
    seen: dict[str, Any] = {}

    class FixedLogits:
        def eval(self) -> None:
            pass

        def __call__(self, **inputs: Any) -> tuple[Any]:
            return (torch.tensor([[2.0, -2.0, 0.0]]).repeat(len(inputs["input_ids"]), 1),)

    def get_model_and_tokenizer(**kwargs: Any) -> tuple[Any, Any]:
        seen.update(kwargs)
        return FixedLogits(), lambda texts, **_: {"input_ids": torch.zeros((len(texts), 3), dtype=torch.long)}

    package = types.ModuleType("detoxify")
    package.detoxify = types.SimpleNamespace(get_model_and_tokenizer=get_model_and_tokenizer)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "detoxify", package)
    monkeypatch.setenv(CHECKPOINT_ENV, str(checkpoint))
    monkeypatch.setenv(BERT_DIR_ENV, str(bert_dir))
    score = ToxicityScorer(backend="detoxify").score("some text")
    assert seen["model_type"] == str(bert_dir) and "state_dict" in seen
    assert score.value == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)
    assert score.metadata["is_toxic"] is True and score.metadata["backend"] == "detoxify"
    assert set(score.metadata["components"]) == {"toxicity", "severe_toxicity", "identity_attack"}
