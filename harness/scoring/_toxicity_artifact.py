"""The trained toxicity classifier on disk: numpy arrays (``.npz``) plus a JSON record, no pickle.

The JSON record says what the arrays are (class names, embedding model and its sha256, the decision
threshold) and how they were made (training data sha256s, split seed, hyper-parameters, held-out
figures). Loading checks the arrays against the sha256 recorded beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CacheCorruptError, DataFormatError

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
ARTIFACT_NAME = "toxicity_v1"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LinearSoftmaxClassifier:
    """Multinomial logistic regression over sentence embeddings: p = softmax(x W^T + b)."""

    weights: np.ndarray  # (n_classes, dim) float32
    bias: np.ndarray  # (n_classes,) float32
    class_names: tuple[str, ...]
    toxic_classes: tuple[str, ...]

    def class_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weights.T.astype(np.float64) + self.bias.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def toxic_probability(self, class_probabilities: np.ndarray) -> np.ndarray:
        columns = [self.class_names.index(name) for name in self.toxic_classes]
        return np.asarray(class_probabilities[:, columns].sum(axis=1))


@dataclass(frozen=True)
class ToxicityArtifact:
    classifier: LinearSoftmaxClassifier
    threshold: float
    record: dict[str, Any]

    @property
    def embedding_sha256(self) -> str:
        return str(self.record["embedding_model"]["sha256"])


def arrays_bytes(weights: np.ndarray, bias: np.ndarray) -> bytes:
    """The ``.npz`` content for these arrays, byte-for-byte reproducible (no timestamps inside)."""
    buffer = io.BytesIO()
    np.savez(buffer, weights=weights.astype(np.float32), bias=bias.astype(np.float32))
    return buffer.getvalue()


def write_artifact(
    directory: Path, name: str, weights: np.ndarray, bias: np.ndarray, record: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``<name>.npz`` and ``<name>.json``; the JSON gains the npz's sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    npz_path, json_path = directory / f"{name}.npz", directory / f"{name}.json"
    content = arrays_bytes(weights, bias)
    npz_path.write_bytes(content)
    full_record = {**record, "arrays": {"file": npz_path.name, "sha256": hashlib.sha256(content).hexdigest()}}
    json_path.write_text(json.dumps(full_record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return npz_path, json_path


def read_linear_artifact(directory: Path, name: str, retrain: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(weights, bias, record) of ``<name>.npz`` / ``<name>.json``, checked against the sha256 and
    shapes recorded; every problem names the file and ``retrain`` (what to run)."""
    json_path, npz_path = directory / f"{name}.json", directory / f"{name}.npz"
    for path in (json_path, npz_path):
        if not path.is_file():
            raise CacheCorruptError(f"{path} is missing: {retrain}")
    record = json.loads(json_path.read_text(encoding="utf-8"))
    if record.get("schema_version") != SCHEMA_VERSION:
        raise DataFormatError(
            f"{json_path}: schema_version must be {SCHEMA_VERSION}, got {record.get('schema_version')}"
        )
    content = npz_path.read_bytes()
    expected = record.get("arrays", {}).get("sha256")
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise CacheCorruptError(
            f"{npz_path}: sha256 {actual} does not match {expected} recorded in {json_path}: {retrain}"
        )
    with np.load(io.BytesIO(content), allow_pickle=False) as arrays:
        weights, bias = np.array(arrays["weights"]), np.array(arrays["bias"])
    class_names = record["class_names"]
    if weights.shape != (len(class_names), record["embedding_model"]["dim"]) or bias.shape != (len(class_names),):
        raise DataFormatError(f"{npz_path}: array shapes {weights.shape}/{bias.shape} do not fit {json_path}")
    return weights, bias, record


def load_artifact(directory: Path = ARTIFACTS_DIR, name: str = ARTIFACT_NAME) -> ToxicityArtifact:
    """Load and check the classifier; every problem names the file and what to do."""
    weights, bias, record = read_linear_artifact(
        directory, name, "rebuild it with `python scripts/train_toxicity_scorer.py`"
    )
    classifier = LinearSoftmaxClassifier(weights, bias, tuple(record["class_names"]), tuple(record["toxic_classes"]))
    return ToxicityArtifact(classifier=classifier, threshold=float(record["threshold"]), record=record)
