"""Train the empathy scorer on EPITOME and write harness/scoring/artifacts/empathy_v1.{npz,json}.

Usage:
    HF_HUB_OFFLINE=1 python scripts/train_empathy_v1.py [--data-dir ../shared/data/epitome]
        [--embedding-cache empathy_embeddings.npz]

parse -> read + split by seeker post -> embed -> per mechanism: pick C by grouped cross-validation
on the training split, fit, measure on the held-out split -> save. Seeded and deterministic: a
second run on the same data writes the same bytes (the .json records the .npz's sha256).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._empathy_artifact import (  # noqa: E402
    ARTIFACT_JSON,
    ARTIFACT_NPZ,
    LinearSoftmaxModel,
    save_models,
)
from harness.scoring._empathy_features import (  # noqa: E402
    EMBEDDING_MODEL_NAME,
    FEATURE_LAYOUT,
    CachedEmbedder,
    MiniLMEmbedder,
    feature_matrix,
    prepare_pair,
)
from harness.scoring._epitome import (  # noqa: E402
    LEVELS,
    MECHANISMS,
    EpitomePair,
    epitome_file_hashes,
    heldout_ids_digest,
    read_epitome_pairs,
    split_pairs,
)


@dataclass
class TrainConfig:
    data_dir: Path = field(default=REPO.parent / "shared" / "data" / "epitome", metadata={"help": "EPITOME CSVs"})
    split_seed: int = field(default=2020, metadata={"help": "seed of the hash that assigns seeker posts"})
    heldout_fraction: float = field(default=0.2, metadata={"help": "share of seeker posts held out"})
    c_grid: tuple[float, ...] = field(default=(0.0003, 0.001, 0.003, 0.01), metadata={"help": "inverse L2 strengths"})
    cv_folds: int = field(default=5, metadata={"help": "grouped folds used to choose C"})
    max_iter: int = field(default=3000, metadata={"help": "lbfgs iterations"})
    torch_threads: int = field(default=2, metadata={"help": "CPU threads for the embedding model"})
    embedding_cache: Path | None = field(default=None, metadata={"help": ".npz of text embeddings to reuse"})
    out_npz: Path = field(default=ARTIFACT_NPZ, metadata={"help": "weights file to write"})
    out_json: Path = field(default=ARTIFACT_JSON, metadata={"help": "training record to write"})


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "c_grid":
            parser.add_argument(flag, type=float, nargs="+", default=f.default, help=f.metadata["help"])
        else:
            kind = {"int": int, "float": float}.get(str(f.type), Path)
            parser.add_argument(flag, type=kind, default=f.default, help=f.metadata["help"])
    args = vars(parser.parse_args(argv))
    args["c_grid"] = tuple(args["c_grid"])
    return TrainConfig(**args)


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=list(LEVELS), average="macro", zero_division=0))


def fit_mechanism(features: np.ndarray, levels: np.ndarray, c: float, config: TrainConfig) -> LinearSoftmaxModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=config.max_iter)
    classifier.fit(scaler.transform(features), levels)
    return LinearSoftmaxModel(
        mean=scaler.mean_.astype(np.float32),
        scale=scaler.scale_.astype(np.float32),
        coef=classifier.coef_.astype(np.float32),
        intercept=classifier.intercept_.astype(np.float32),
        classes=classifier.classes_.astype(np.int64),
    )


def choose_c(features: np.ndarray, levels: np.ndarray, groups: np.ndarray, config: TrainConfig) -> dict[float, float]:
    """Macro-F1 of each C under grouped k-fold cross-validation on the training split."""
    from sklearn.model_selection import GroupKFold

    results = {}
    for c in config.c_grid:
        predicted = np.zeros_like(levels)
        for train_idx, test_idx in GroupKFold(n_splits=config.cv_folds).split(features, levels, groups):
            model = fit_mechanism(features[train_idx], levels[train_idx], c, config)
            predicted[test_idx] = np.argmax(model.predict_proba(features[test_idx]), axis=1)
        results[c] = macro_f1(levels, predicted)
    return results


def heldout_figures(
    model: LinearSoftmaxModel, features: np.ndarray, levels: np.ndarray, majority: int
) -> dict[str, Any]:
    predicted = model.classes[np.argmax(model.predict_proba(features), axis=1)]
    return {
        "n": len(levels),
        "level_counts": {str(k): int((levels == k).sum()) for k in LEVELS},
        "accuracy": float((predicted == levels).mean()),
        "macro_f1": macro_f1(levels, predicted),
        "majority_level": majority,
        "majority_macro_f1": macro_f1(levels, np.full_like(levels, majority)),
    }


def train(config: TrainConfig) -> dict[str, Any]:
    import sklearn
    import torch

    started = time.monotonic()
    torch.set_num_threads(config.torch_threads)
    pairs = read_epitome_pairs(config.data_dir)
    train_pairs, heldout_pairs = split_pairs(pairs, config.split_seed, config.heldout_fraction)
    embedder = CachedEmbedder(MiniLMEmbedder(), config.embedding_cache)
    prepared = [prepare_pair(p.post, p.reply) for p in (*train_pairs, *heldout_pairs)]
    features = feature_matrix(prepared, embedder)
    x_train, x_heldout = features[: len(train_pairs)], features[len(train_pairs) :]
    groups = np.array([p.sp_id for p in train_pairs])
    models: dict[str, LinearSoftmaxModel] = {}
    figures: dict[str, Any] = {}
    for mechanism in MECHANISMS:
        y_train = _levels(train_pairs, mechanism)
        cv_scores = choose_c(x_train, y_train, groups, config)
        best_c = max(config.c_grid, key=lambda c: (cv_scores[c], -c))  # ties go to the stronger penalty
        models[mechanism] = fit_mechanism(x_train, y_train, best_c, config)
        majority = int(np.bincount(y_train, minlength=len(LEVELS)).argmax())
        figures[mechanism] = {
            "C": best_c,
            "cv_macro_f1": {str(c): round(s, 4) for c, s in cv_scores.items()},
            "train_n": len(y_train),
            **heldout_figures(models[mechanism], x_heldout, _levels(heldout_pairs, mechanism), majority),
        }
        print(mechanism, json.dumps(figures[mechanism]), flush=True)
    artifact_sha = save_models(models, config.out_npz)
    record = {
        "artifact": config.out_npz.name,
        "artifact_sha256": artifact_sha,
        "licence": "EPITOME (Sharma et al., EMNLP 2020): non-commercial academic research use only",
        "training_data": {"folder": "shared/data/epitome", "sha256": epitome_file_hashes(config.data_dir)},
        "pairs": {"total": len(pairs), "train": len(train_pairs), "heldout": len(heldout_pairs)},
        "split": {
            "rule": "sha256('epitome-split:{seed}:{sp_id}'), first 8 bytes as a big-endian integer / 2**64 < fraction",
            "seed": config.split_seed,
            "heldout_fraction": config.heldout_fraction,
            "heldout_posts": len({p.sp_id for p in heldout_pairs}),
            "heldout_sp_ids_sha256": heldout_ids_digest(heldout_pairs),
        },
        "embedding_model": EMBEDDING_MODEL_NAME,
        "feature_layout": FEATURE_LAYOUT,
        "classifier": "sklearn LogisticRegression (multinomial, lbfgs, class_weight=balanced) on StandardScaler",
        "sklearn_version": sklearn.__version__,
        "hyperparameters": {
            "c_grid": list(config.c_grid),
            "cv_folds": config.cv_folds,
            "max_iter": config.max_iter,
            "torch_threads": config.torch_threads,
        },
        "heldout": figures,
    }
    config.out_json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {config.out_npz} ({config.out_npz.stat().st_size} bytes, sha256 {artifact_sha[:12]})")
    print(f"wall time {time.monotonic() - started:.0f} s")
    return record


def _levels(pairs: Sequence[EpitomePair], mechanism: str) -> np.ndarray:
    return np.array([p.levels[mechanism] for p in pairs], dtype=np.int64)


if __name__ == "__main__":
    train(parse_config())
