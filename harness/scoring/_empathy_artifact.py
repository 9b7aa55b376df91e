"""The empathy scorer's trained weights: plain arrays in an .npz, a record in a .json beside it.

Each mechanism is a multinomial logistic regression over standardised features. Only arrays are
stored (feature mean and scale, coefficients, intercepts, class labels), and ``predict_proba`` is
re-implemented here, so loading needs neither scikit-learn nor unpickling. The .npz is written
with fixed zip timestamps so that training twice on the same data gives a byte-identical file;
the .json records that file's sha256, and a file that does not match is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import MindgateError
from harness.paths import PACKAGE_DIR
from harness.scoring._empathy_features import FEATURE_DIM, FEATURE_LAYOUT
from harness.scoring._epitome import LEVELS, MECHANISM_CODES, MECHANISMS

ARTIFACT_DIR = PACKAGE_DIR / "scoring" / "artifacts"
ARTIFACT_NPZ = ARTIFACT_DIR / "empathy_v1.npz"
ARTIFACT_JSON = ARTIFACT_DIR / "empathy_v1.json"
TRAIN_COMMAND = "HF_HUB_OFFLINE=1 python scripts/train_empathy_v1.py --data-dir ../shared/data/epitome"
_ARRAYS = ("mean", "scale", "coef", "intercept", "classes")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class EmpathyArtifactError(MindgateError):
    """The empathy scorer's trained artifact is missing, damaged or built for other features."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}. Rebuild it with: {TRAIN_COMMAND}")
        self.path = path


@dataclass(frozen=True)
class LinearSoftmaxModel:
    """Standardise, then a linear map to one logit per class, then softmax."""

    mean: np.ndarray  # (n_features,)
    scale: np.ndarray  # (n_features,)
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    classes: np.ndarray  # (n_classes,) the levels, in column order

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        standardised = (np.atleast_2d(features) - self.mean) / self.scale
        logits = standardised @ self.coef.T.astype(np.float64) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        weights = np.exp(logits)
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def save_models(models: Mapping[str, LinearSoftmaxModel], path: Path) -> str:
    """Write the models to ``path`` (an .npz numpy can load) and return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for mechanism in MECHANISMS:
            model = models[mechanism]
            for name in _ARRAYS:
                info = zipfile.ZipInfo(f"{MECHANISM_CODES[mechanism]}_{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, _array_bytes(getattr(model, name)))
    data = buffer.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_record(json_path: Path = ARTIFACT_JSON) -> dict[str, Any]:
    if not json_path.is_file():
        raise EmpathyArtifactError(json_path, "the empathy scorer's training record is missing")
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmpathyArtifactError(json_path, f"not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise EmpathyArtifactError(json_path, "expected a JSON object")
    return record


def load_models(
    npz_path: Path = ARTIFACT_NPZ, json_path: Path = ARTIFACT_JSON
) -> tuple[dict[str, LinearSoftmaxModel], dict[str, Any]]:
    """The three mechanism models and the training record; any inconsistency raises EmpathyArtifactError."""
    record = read_record(json_path)
    if record.get("feature_layout") != FEATURE_LAYOUT:
        raise EmpathyArtifactError(
            json_path, f"feature_layout is {record.get('feature_layout')!r}, this code expects {FEATURE_LAYOUT!r}"
        )
    if not npz_path.is_file():
        raise EmpathyArtifactError(npz_path, "the empathy scorer's weights are missing")
    data = npz_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != record.get("artifact_sha256"):
        raise EmpathyArtifactError(npz_path, f"sha256 differs from artifact_sha256 in {json_path.name} (damaged?)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            models = {m: _model_from_arrays(arrays, MECHANISM_CODES[m]) for m in MECHANISMS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise EmpathyArtifactError(npz_path, f"cannot read the weights ({exc})") from exc
    return models, record


def _model_from_arrays(arrays: Mapping[str, np.ndarray], code: str) -> LinearSoftmaxModel:
    model = LinearSoftmaxModel(**{name: np.asarray(arrays[f"{code}_{name}"]) for name in _ARRAYS})
    n_classes = len(LEVELS)
    shapes_ok = (
        model.mean.shape == (FEATURE_DIM,)
        and model.scale.shape == (FEATURE_DIM,)
        and model.coef.shape == (n_classes, FEATURE_DIM)
        and model.intercept.shape == (n_classes,)
        and tuple(int(c) for c in model.classes) == LEVELS
    )
    if not shapes_ok or not all(np.isfinite(getattr(model, n)).all() for n in ("mean", "scale", "coef")):
        raise ValueError(f"arrays for {code} have unexpected shapes, classes or non-finite values")
    return model
