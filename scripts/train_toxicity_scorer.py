"""Train the default toxicity classifier and write ``harness/scoring/artifacts/toxicity_v1.{npz,json}``.

Usage:
    HF_HUB_OFFLINE=1 python scripts/train_toxicity_scorer.py [--embedding-cache /tmp/mindgate-embeddings]

parse -> load + split -> embed -> fit -> pick threshold -> measure held-out -> save. The same inputs
and seed give byte-identical arrays (checked with ``--check-reproducible``, which trains twice).
Three sources, each split train/dev/test with one seed: Davidson tweets (stratified by class), ToxiGen
demonstration sentences (stratified by label and group folder) and CounselChat questions and answers
(upstream "train" split only, kept together by question). CounselChat rows are all non-toxic: they
teach the classifier that talk about suicide, self-harm and abuse is not toxic by itself. Only the
train parts are fitted; the test parts are measured once, for the record and the report.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._toxicity_artifact import (  # noqa: E402
    ARTIFACT_NAME,
    ARTIFACTS_DIR,
    SCHEMA_VERSION,
    LinearSoftmaxClassifier,
    arrays_bytes,
    write_artifact,
)
from harness.scoring._toxicity_data import (  # noqa: E402
    CLASS_NAMES,
    LabelledTexts,
    file_sha256,
    grouped_split,
    load_counselchat,
    load_davidson,
    load_toxigen_demonstrations,
    stratified_split,
    toxigen_demonstration_files,
)
from harness.scoring._toxicity_embed import (  # noqa: E402
    EMBEDDING_DIM,
    EMBEDDING_MODEL_NAME,
    MAX_SEQ_LENGTH,
    MiniLMEmbedder,
    embedding_model_sha256,
)
from harness.scoring._toxicity_eval import auroc, best_f1_threshold, brier_score, counts_at  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"


@dataclass
class TrainConfig:
    davidson_csv: Path = field(
        default=SHARED_DATA / "davidson-hate-offensive" / "labeled_data.csv",
        metadata={"help": "Davidson et al. labeled_data.csv (class 0 hate, 1 offensive, 2 neither)"},
    )
    toxigen_demonstrations: Path = field(
        default=SHARED_DATA / "toxigen" / "demonstrations",
        metadata={"help": "ToxiGen demonstrations/ folder (group folders of hate_*/neutral_* files)"},
    )
    counselchat_csv: Path = field(
        default=SHARED_DATA / "counselchat" / "20200325_counsel_chat.csv",
        metadata={"help": "CounselChat 20200325_counsel_chat.csv (its 'train' split is used, as non-toxic)"},
    )
    seed: int = field(default=13, metadata={"help": "seed of the train/dev/test split"})
    split: tuple[float, float, float] = field(
        default=(0.7, 0.1, 0.2), metadata={"help": "train/dev/test fractions (every source alike)"}
    )
    l2_c: float = field(default=10.0, metadata={"help": "inverse L2 strength of the logistic regression"})
    balance_toxic: bool = field(
        default=True,
        metadata={"help": "weight rows so toxic and non-toxic carry equal total weight within each source"},
    )
    toxigen_weight: float = field(
        default=4.0, metadata={"help": "extra weight of a ToxiGen sentence against a tweet (they are 40x fewer)"}
    )
    counselchat_weight: float = field(
        default=3.0, metadata={"help": "weight of a CounselChat row, in units of one non-toxic Davidson row"}
    )
    threshold_rule: str = field(
        default="0.5",
        metadata={"help": "a number, or 'max_f1_dev' (best F1 on the dev parts; low, as Davidson is 83%% toxic)"},
    )
    num_threads: int = field(default=2, metadata={"help": "torch CPU threads for embedding"})
    embedding_cache: Path | None = field(
        default=None, metadata={"help": "folder for cached embeddings (outside the repository), e.g. /tmp/..."}
    )
    output_dir: Path = field(default=ARTIFACTS_DIR, metadata={"help": "where toxicity_v1.npz/.json are written"})
    check_reproducible: bool = field(
        default=False, metadata={"help": "fit twice (embedding again, without the cache) and require equal arrays"}
    )


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for spec in fields(TrainConfig):
        flag = "--" + spec.name.replace("_", "-")
        default = spec.default
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=spec.metadata["help"]
            )
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=float, nargs=3, default=default, help=spec.metadata["help"])
        else:
            kind = {int: int, float: float, str: str}.get(type(default), Path)
            parser.add_argument(flag, type=kind, default=default, help=spec.metadata["help"])
    values = vars(parser.parse_args(argv))
    values["split"] = tuple(values["split"])
    return TrainConfig(**values)


@dataclass(frozen=True)
class SplitData:
    train: LabelledTexts
    dev: LabelledTexts
    test: LabelledTexts


SOURCES: tuple[str, ...] = ("davidson", "toxigen", "counselchat")
PARTS: tuple[str, ...] = ("train", "dev", "test")


def load_splits(config: TrainConfig) -> dict[str, SplitData]:
    davidson = load_davidson(config.davidson_csv)
    toxigen = load_toxigen_demonstrations(config.toxigen_demonstrations)
    counselchat, question_ids = load_counselchat(config.counselchat_csv)
    toxigen_groups = [source.split("/")[1] for source in toxigen.sources]
    indices = {
        "davidson": stratified_split(davidson.labels, config.split, config.seed),
        "toxigen": stratified_split(toxigen.labels, config.split, config.seed, toxigen_groups),
        "counselchat": grouped_split(question_ids, config.split, config.seed),
    }
    data = {"davidson": davidson, "toxigen": toxigen, "counselchat": counselchat}
    return {name: SplitData(*(data[name].subset(part) for part in indices[name])) for name in SOURCES}


def embed_cached(embedder: MiniLMEmbedder, texts: tuple[str, ...], cache: Path | None) -> np.ndarray:
    """Embeddings, reused from ``cache`` when the same model already embedded the same texts."""
    key = hashlib.sha256("\n".join([embedding_model_sha256(), str(MAX_SEQ_LENGTH), *texts]).encode()).hexdigest()
    path = cache / f"minilm-{key[:24]}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    vectors = embedder.embed(list(texts))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors


def balanced_weights(part: LabelledTexts) -> np.ndarray:
    """Toxic and non-toxic rows carry equal total weight (mean weight 1)."""
    toxic = part.is_toxic
    weights = np.ones(len(part))
    weights[toxic] = len(part) / (2.0 * max(1, toxic.sum()))
    weights[~toxic] = len(part) / (2.0 * max(1, (~toxic).sum()))
    return weights


def row_weights(train: dict[str, LabelledTexts], config: TrainConfig) -> np.ndarray:
    """Davidson and ToxiGen balanced within themselves; ToxiGen scaled up; CounselChat in Davidson units.

    Balancing makes the model's prior even (Davidson alone is 83% toxic, far above the rate in model
    replies), so its probabilities are equal-prior posteriors and 0.5 is a neutral cut-off.
    """
    davidson = balanced_weights(train["davidson"]) if config.balance_toxic else np.ones(len(train["davidson"]))
    toxigen = balanced_weights(train["toxigen"]) if config.balance_toxic else np.ones(len(train["toxigen"]))
    non_toxic_davidson_weight = float(davidson[~train["davidson"].is_toxic][0])
    counselchat = np.full(len(train["counselchat"]), config.counselchat_weight * non_toxic_davidson_weight)
    return np.concatenate([davidson, toxigen * config.toxigen_weight, counselchat])


def fit_classifier(
    x: np.ndarray, labels: np.ndarray, weights: np.ndarray, config: TrainConfig
) -> LinearSoftmaxClassifier:
    from sklearn.linear_model import LogisticRegression  # training only; the scorer needs numpy alone

    model = LogisticRegression(C=config.l2_c, max_iter=5000, tol=1e-8, solver="lbfgs")
    model.fit(x.astype(np.float64), labels, sample_weight=weights / weights.mean())
    if list(model.classes_) != list(range(len(CLASS_NAMES))):
        raise ValueError(f"training data lacks a class: saw {list(model.classes_)}")
    return LinearSoftmaxClassifier(
        weights=model.coef_.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        class_names=CLASS_NAMES,
        toxic_classes=("hate", "offensive"),
    )


def toxic_probability(classifier: LinearSoftmaxClassifier, x: np.ndarray) -> np.ndarray:
    return classifier.toxic_probability(classifier.class_probabilities(x))


def pick_threshold(rule: str, dev_is_toxic: np.ndarray, dev_probability: np.ndarray) -> float:
    return best_f1_threshold(dev_is_toxic, dev_probability) if rule == "max_f1_dev" else float(rule)


def held_out_figures(is_toxic: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    counts = counts_at(is_toxic, probability, threshold)
    figures: dict[str, Any] = {"n": len(is_toxic), "n_toxic": int(is_toxic.sum())}
    if 0 < is_toxic.sum() < len(is_toxic):
        figures |= {"auroc": auroc(is_toxic, probability), "precision": counts.precision, "recall": counts.recall}
        figures |= {"f1": counts.f1, "brier": brier_score(is_toxic, probability)}
    else:  # one class only (CounselChat): the share wrongly flagged is what there is to measure
        figures |= {"flagged_rate": float(np.mean(probability >= threshold))}
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in figures.items()}


@dataclass(frozen=True)
class TrainedClassifier:
    classifier: LinearSoftmaxClassifier
    threshold: float
    held_out: dict[str, Any]
    split_sizes: dict[str, dict[str, int]]


def train(config: TrainConfig, use_cache: bool = True) -> TrainedClassifier:
    splits = load_splits(config)
    embedder = MiniLMEmbedder(num_threads=config.num_threads)
    cache = config.embedding_cache if use_cache else None
    vectors = {(s, p): embed_cached(embedder, getattr(splits[s], p).texts, cache) for s in SOURCES for p in PARTS}
    train_parts = {s: splits[s].train for s in SOURCES}
    x = np.concatenate([vectors[(s, "train")] for s in SOURCES])
    labels = np.concatenate([train_parts[s].labels for s in SOURCES])
    classifier = fit_classifier(x, labels, row_weights(train_parts, config), config)
    dev_x = np.concatenate([vectors[(s, "dev")] for s in SOURCES])
    dev_toxic = np.concatenate([splits[s].dev.is_toxic for s in SOURCES])
    threshold = pick_threshold(config.threshold_rule, dev_toxic, toxic_probability(classifier, dev_x))
    held_out = {
        s: held_out_figures(splits[s].test.is_toxic, toxic_probability(classifier, vectors[(s, "test")]), threshold)
        for s in SOURCES
    }
    sizes = {s: {p: len(getattr(splits[s], p)) for p in PARTS} for s in SOURCES}
    return TrainedClassifier(classifier, threshold, held_out, sizes)


def training_record(config: TrainConfig, trained: TrainedClassifier) -> dict[str, Any]:
    """Everything needed to trust or redo the fit. Deterministic, so two identical fits write equal JSON."""
    import sklearn

    inputs = ("davidson_csv", "toxigen_demonstrations", "counselchat_csv", "output_dir", "embedding_cache")
    hyper = {k: v for k, v in asdict(config).items() if k not in inputs and k != "check_reproducible"}
    hyper["split"] = list(hyper["split"])
    toxigen_files = toxigen_demonstration_files(config.toxigen_demonstrations)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": "multinomial logistic regression (L2, lbfgs) over unit-length sentence embeddings",
        "class_names": list(CLASS_NAMES),
        "toxic_classes": ["hate", "offensive"],
        "threshold": trained.threshold,
        "embedding_model": {
            "name": EMBEDDING_MODEL_NAME,
            "dim": EMBEDDING_DIM,
            "max_seq_length": MAX_SEQ_LENGTH,
            "sha256": embedding_model_sha256(),
        },
        "training_data": {
            "davidson": {"file": config.davidson_csv.name, "sha256": file_sha256(config.davidson_csv)},
            "toxigen_demonstrations": {f"{p.parent.name}/{p.name}": file_sha256(p) for p in toxigen_files},
            "counselchat": {"file": config.counselchat_csv.name, "sha256": file_sha256(config.counselchat_csv)},
        },
        "split": {"seed": config.seed, "fractions": list(config.split), "sizes": trained.split_sizes},
        "hyper_parameters": hyper,
        "held_out": trained.held_out,
        "trained_with": {"sklearn": sklearn.__version__, "numpy": np.__version__},
        "command": "python scripts/train_toxicity_scorer.py",
    }


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    started = time.monotonic()
    trained = train(config)
    arrays = arrays_bytes(trained.classifier.weights, trained.classifier.bias)
    print(f"fitted in {time.monotonic() - started:.0f} s; arrays sha256 {hashlib.sha256(arrays).hexdigest()}")
    if config.check_reproducible:
        again = train(config, use_cache=False)
        same = arrays == arrays_bytes(again.classifier.weights, again.classifier.bias)
        if not same or again.threshold != trained.threshold or again.held_out != trained.held_out:
            print("NOT reproducible: a second fit (embedding afresh) gave different arrays or figures", file=sys.stderr)
            return 1
        print(
            f"reproducible: a second fit, embedding afresh, gave identical arrays ({time.monotonic() - started:.0f} s)"
        )
    npz, json_path = write_artifact(
        config.output_dir,
        ARTIFACT_NAME,
        trained.classifier.weights,
        trained.classifier.bias,
        training_record(config, trained),
    )
    print(f"wrote {npz} ({npz.stat().st_size} bytes) and {json_path}; threshold {trained.threshold:.3f}")
    for source, figures in trained.held_out.items():
        print(f"  held-out {source}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
