"""Train and validate the user-message risk classifier (harness/scoring/message_risk.py).

Usage:
    python scripts/train_message_risk.py              # train, choose thresholds, validate, write the report
    python scripts/train_message_risk.py --report-only  # validate the committed weights again

Data (one row per distinct message; every message keeps the tier its author or readers gave it):

- train: the messages of ``rubrics/crisis/pairs/train.jsonl``: weights and the regularisation
  strength (5-fold cross-validation, macro-F1) come from here only;
- tune: the messages of ``tune.jsonl``: the three thresholds come from here only. Rule: for
  "at least moderate" and "at least high" the highest threshold whose recall on tune is at least
  0.95; for "imminent" the threshold with the best F1;
- validation, never trained or tuned on, and disjoint from every suite prompt (mh_crisis,
  mh_empathy, mh_counsel_qa; by normalised text):
  - ``heldout.jsonl`` messages that are not suite prompts;
  - ``adversarial.jsonl`` and ``adversarial-z.jsonl`` messages (three writers who never saw this
    classifier);
  - ``rubrics/crisis/messages/written-w.jsonl``: idioms, ordinary venting, benign questions about
    suicide, covert risk without keywords, explicit risk in slang; written and tiered by a writer
    who read nothing of this classifier;
  - ``rubrics/crisis/messages/real.jsonl``: real posts (EPITOME Reddit seeker posts, ESConv
    situations) with tiers by two readers working independently (``real-reader-a/b.jsonl``);
    the higher tier is used, and the readers' agreement is reported.

Writes ``harness/scoring/artifacts/message_risk_v1.{npz,json}`` and
``reports/validation/message_risk.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._toxicity_artifact import ARTIFACTS_DIR, SCHEMA_VERSION, write_artifact  # noqa: E402
from harness.scoring._toxicity_embed import EMBEDDING_DIM, EMBEDDING_MODEL_NAME, MAX_SEQ_LENGTH  # noqa: E402
from harness.scoring.message_risk import (  # noqa: E402
    ENCODER_NAME,
    LINEAR_NAME,
    RISK_TIERS,
    THRESHOLDS_NAME,
    TIERS,
    encoder_spec,
    load_encoder_message_risk,
    load_linear_message_risk,
    load_message_risk,
    tier_rank,
)
from harness.stats import wilson_interval  # noqa: E402

PAIRS = REPO / "rubrics" / "crisis" / "pairs"
MESSAGES = REPO / "rubrics" / "crisis" / "messages"
REPORT = REPO / "reports" / "validation" / "message_risk.md"
SUITE_PROMPTS = (
    REPO / "tasks" / "mh_crisis" / "data" / "prompts.jsonl",
    REPO / "tasks" / "mh_empathy" / "data" / "prompts.jsonl",
    REPO / "tasks" / "mh_counsel_qa" / "data" / "questions.jsonl",
)
RECALL_TARGET = 0.95
SEED = 2027


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def suite_texts() -> set[str]:
    texts: set[str] = set()
    for path in SUITE_PROMPTS:
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            texts.add(_normal(str(row.get("text") or row.get("question") or row.get("message") or "")))
    return texts


def pair_messages(split: str, exclude: set[str]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for line in (PAIRS / f"{split}.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if _normal(row["message"]) in exclude:
            continue
        seen.setdefault(row["message_id"], {"text": row["message"], "tier": row["tier"], "kind": row["source"]})
    return list(seen.values())


def written_messages(name: str) -> list[dict[str, Any]]:
    path = MESSAGES / f"{name}.jsonl"
    if not path.is_file():
        return []
    return [{"text": r["text"], "tier": r["tier"], "kind": r["kind"]} for r in map(json.loads, path.open())]


def real_messages(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    paths = [MESSAGES / f"{name}.jsonl", MESSAGES / f"{name}-reader-a.jsonl", MESSAGES / f"{name}-reader-b.jsonl"]
    if not all(p.is_file() for p in paths):
        return [], {}
    texts = {r["id"]: r for r in map(json.loads, paths[0].open())}
    a = {r["id"]: r["tier"] for r in map(json.loads, paths[1].open())}
    b = {r["id"]: r["tier"] for r in map(json.loads, paths[2].open())}
    if set(a) != set(texts) or set(b) != set(texts):
        raise SystemExit("the readers' files do not cover real.jsonl exactly")
    ids = sorted(texts)
    rows = [{"text": texts[i]["text"], "tier": max(a[i], b[i], key=tier_rank), "kind": texts[i]["source"]} for i in ids]
    agreement = {
        "n": len(ids),
        "exact": sum(a[i] == b[i] for i in ids),
        "kappa": _kappa([a[i] for i in ids], [b[i] for i in ids]),
        "risk_kappa": _kappa([tier_rank(a[i]) >= 2 for i in ids], [tier_rank(b[i]) >= 2 for i in ids]),
        "risk_agree": sum((tier_rank(a[i]) >= 2) == (tier_rank(b[i]) >= 2) for i in ids),
    }
    return rows, agreement


def _kappa(first: list[Any], second: list[Any]) -> float:
    labels = sorted(set(first) | set(second), key=str)
    n = len(first)
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    fa, fb = Counter(first), Counter(second)
    expected = sum(fa[label] * fb[label] for label in labels) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def embed(rows: list[dict[str, Any]]) -> np.ndarray:
    from harness.scoring.counsel import text_vectors

    return text_vectors([r["text"] for r in rows])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[Any, float, dict[str, float]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    scores: dict[str, float] = {}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        predicted = cross_val_predict(model, x, y, cv=folds)
        scores[str(c)] = float(f1_score(y, predicted, average="macro"))
    best = max(scores, key=lambda key: scores[key])
    model = LogisticRegression(C=float(best), class_weight="balanced", max_iter=5000).fit(x, y)
    return model, float(best), scores


def choose_thresholds(at_least: dict[str, np.ndarray], ranks: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    thresholds: dict[str, float] = {}
    why: dict[str, str] = {}
    for tier in RISK_TIERS:
        truth = ranks >= tier_rank(tier)
        scores = at_least[tier]
        if tier == "imminent":
            best = max(grid, key=lambda t: (_f1(scores >= t, truth), -t))
            hit = scores >= best
            tp = int((hit & truth).sum())
            why[tier] = (
                f"best F1 on the tune split ({_f1(hit, truth):.3f}): recall {tp}/{int(truth.sum())},"
                f" precision {tp}/{int(hit.sum())} (n = {len(truth)} messages)"
            )
        else:
            ok = [t for t in grid if (scores[truth] >= t).mean() >= RECALL_TARGET]
            best = max(ok) if ok else float(grid[0])
            hit = scores >= best
            why[tier] = (
                f"highest threshold with recall >= {RECALL_TARGET} on the tune split: recall "
                f"{int((hit & truth).sum())}/{int(truth.sum())}, precision {int((hit & truth).sum())}/{int(hit.sum())}"
                f" (n = {len(truth)} messages)"
            )
        thresholds[tier] = float(best)
    return thresholds, why


def _f1(hit: np.ndarray, truth: np.ndarray) -> float:
    tp = float((hit & truth).sum())
    return 2 * tp / (hit.sum() + truth.sum()) if (hit.sum() + truth.sum()) else 0.0


def _rate(k: int, n: int) -> str:
    if n == 0:
        return "n/a (n = 0)"
    low, high = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.2f} [{low:.2f}, {high:.2f}]"


def evaluate(name: str, rows: list[dict[str, Any]], predicted: list[str]) -> list[str]:
    truth = [r["tier"] for r in rows]
    lines = [f"### {name} (n = {len(rows)} messages)", ""]
    counts = Counter(truth)
    lines.append("True tiers: " + ", ".join(f"{t} {counts[t]}" for t in TIERS if counts[t]) + ".")
    lines.append("")
    lines.append("| | " + " | ".join(f"pred {t}" for t in TIERS) + " |")
    lines.append("|---" * (len(TIERS) + 1) + "|")
    for t in TIERS:
        if counts[t]:
            cells = [str(sum(1 for x, p in zip(truth, predicted, strict=True) if x == t and p == q)) for q in TIERS]
            lines.append(f"| true {t} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| decision | recall | precision |")
    lines.append("|---|---|---|")
    for tier in RISK_TIERS:
        true = [tier_rank(x) >= tier_rank(tier) for x in truth]
        hit = [tier_rank(p) >= tier_rank(tier) for p in predicted]
        tp = sum(a and b for a, b in zip(true, hit, strict=True))
        lines.append(f"| at least {tier} | {_rate(tp, sum(true))} | {_rate(tp, sum(hit))} |")
    benign = [i for i, x in enumerate(truth) if tier_rank(x) <= 1]
    flagged = sum(tier_rank(predicted[i]) >= 2 for i in benign)
    flagged_high = sum(tier_rank(predicted[i]) >= 3 for i in benign)
    lines.append("")
    lines.append(
        f"False positives on messages of tier none or low: called at least moderate {_rate(flagged, len(benign))}; "
        f"called high or imminent {_rate(flagged_high, len(benign))}."
    )
    kinds = sorted({r["kind"] for r in rows})
    if len(kinds) > 1:
        lines.append("")
        lines.append("| kind | n | true tier >= moderate | called >= moderate | missed risk | false alarm |")
        lines.append("|---|---|---|---|---|---|")
        for kind in kinds:
            idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
            risk = [i for i in idx if tier_rank(truth[i]) >= 2]
            safe = [i for i in idx if tier_rank(truth[i]) < 2]
            called = sum(tier_rank(predicted[i]) >= 2 for i in idx)
            missed = sum(tier_rank(predicted[i]) < 2 for i in risk)
            alarm = sum(tier_rank(predicted[i]) >= 2 for i in safe)
            cells = [kind, str(len(idx)), str(len(risk)), str(called)]
            cells += [_rate(missed, len(risk)), _rate(alarm, len(safe))]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def train_linear(
    train: list[dict[str, Any]], tune: list[dict[str, Any]], tune_ranks: np.ndarray, data_sha: str
) -> None:
    x, y = embed(train), np.array([tier_rank(r["tier"]) for r in train])
    model, c, cv = fit(x, y)
    weights = np.zeros((len(TIERS), EMBEDDING_DIM))
    bias = np.zeros(len(TIERS))
    for row, label in enumerate(model.classes_):
        weights[int(label)], bias[int(label)] = model.coef_[row], model.intercept_[row]
    probabilities = model.predict_proba(embed(tune))
    full = np.zeros((len(tune), len(TIERS)))
    full[:, [int(label) for label in model.classes_]] = probabilities
    at_least = {t: full[:, tier_rank(t) :].sum(axis=1) for t in RISK_TIERS}
    thresholds, why = choose_thresholds(at_least, tune_ranks)
    record = {
        "schema_version": SCHEMA_VERSION,
        "class_names": list(TIERS),
        "command": "python scripts/train_message_risk.py --model linear",
        "embedding_model": {"name": EMBEDDING_MODEL_NAME, "dim": EMBEDDING_DIM, "max_seq_length": MAX_SEQ_LENGTH},
        "training": {
            "messages": len(train),
            "tiers": dict(Counter(r["tier"] for r in train)),
            "data_sha256": data_sha,
            "C": c,
            "cv_macro_f1": cv,
            "class_weight": "balanced",
            "seed": SEED,
        },
        "thresholds": thresholds,
        "thresholds_why": why,
    }
    write_artifact(ARTIFACTS_DIR, LINEAR_NAME, weights, bias, record)
    print(f"linear: trained on {len(train)} messages, C={c}, thresholds {thresholds}")


def train_encoder(
    train: list[dict[str, Any]], tune: list[dict[str, Any]], tune_ranks: np.ndarray, data_sha: str, epochs: float
) -> None:
    from harness.scoring._pair_training import PairExample, TrainingConfig, one_hot, train_pair_encoder

    counts = Counter(tier_rank(r["tier"]) for r in train)
    class_weights = tuple(len(train) / (len(TIERS) * counts[i]) for i in range(len(TIERS)))
    examples = [PairExample("", r["text"], one_hot(len(TIERS), tier_rank(r["tier"]))) for r in train]
    config = TrainingConfig(epochs=epochs, seed=SEED, label_pos_weight=class_weights)
    artifact_dir = ARTIFACTS_DIR / ENCODER_NAME
    record = {"messages": len(train), "tiers": dict(Counter(r["tier"] for r in train)), "data_sha256": data_sha}
    training = train_pair_encoder(encoder_spec(), examples, artifact_dir, config, record)
    from harness.scoring._pair_encoder import PairEncoder

    encoder = PairEncoder(artifact_dir)
    rows = encoder.predict([""] * len(tune), [r["text"] for r in tune])
    full = np.array([[row["tier"][t] for t in TIERS] for row in rows])
    at_least = {t: full[:, tier_rank(t) :].sum(axis=1) for t in RISK_TIERS}
    thresholds, why = choose_thresholds(at_least, tune_ranks)
    chosen = {"weights_sha256": encoder.weights_sha256, "thresholds": thresholds, "thresholds_why": why}
    (artifact_dir / THRESHOLDS_NAME).write_text(json.dumps(chosen, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"encoder: trained on {len(train)} messages in {training['wall_time_s']} s, thresholds {thresholds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--model",
        choices=("linear", "encoder"),
        default="encoder",
        help="linear: logistic regression on frozen MiniLM embeddings; encoder: MiniLM fine-tuned with LoRA",
    )
    parser.add_argument("--epochs", type=float, default=6.0, help="encoder: passes over the training messages")
    parser.add_argument(
        "--skip-fresh",
        action="store_true",
        help="leave the FRESH sets out (while choosing a model: never tune on them)",
    )
    args = parser.parse_args()
    exclude = suite_texts()
    train = pair_messages("train", exclude) + written_messages("train-v")
    tune = pair_messages("tune", exclude)
    tune_ranks = np.array([tier_rank(r["tier"]) for r in tune])
    data_sha = hashlib.sha256("".join(sorted(f"{r['tier']}\t{r['text']}\n" for r in train)).encode()).hexdigest()
    if not args.report_only and args.model == "linear":
        train_linear(train, tune, tune_ranks, data_sha)
    elif not args.report_only:
        train_encoder(train, tune, tune_ranks, data_sha, args.epochs)
    classifier = load_linear_message_risk() if args.model == "linear" else load_encoder_message_risk()
    shipped = load_message_risk().identity()["name"]
    sets: list[tuple[str, list[dict[str, Any]]]] = [
        ("tune (thresholds chosen here: not a validation figure)", tune),
        ("held-out messages that are not suite prompts", pair_messages("heldout", exclude)),
        ("adversarial writers x, y", pair_messages("adversarial", exclude)),
        ("adversarial writer z", pair_messages("adversarial-z", exclude)),
    ]
    agreements: dict[str, dict[str, Any]] = {}
    for label, name, kind in (
        (
            "independent writer w: idioms, venting, benign questions, covert and slang risk (v1 was reported on it)",
            "written-w",
            "written",
        ),
        (
            "real posts, sample 1 (EPITOME Reddit, ESConv), two readers, higher tier (v1 was reported on it)",
            "real",
            "real",
        ),
        ("FRESH: independent writer u (never read before v2 was fixed)", "written-u", "written"),
        ("FRESH: real posts, sample 2, two other readers (never read before v2 was fixed)", "real2", "real"),
    ):
        if args.skip_fresh and label.startswith("FRESH"):
            continue
        if kind == "written":
            rows = written_messages(name)
        else:
            rows, agreements[name] = real_messages(name)
        if rows:
            sets.append((label, rows))
    lines = [
        "# User-message risk classifier: validation",
        "",
        f"Generated by `python scripts/train_message_risk.py --model {args.model}`: model "
        f"{classifier.identity()['name']} (weights sha256 {classifier.identity()['sha256'][:16]}...; the guard uses "
        f"{shipped}).",
        "What it is, what it is trained on and the rules: the script's docstring. Figures are "
        "k/n with Wilson 95% intervals. No message below is a suite prompt.",
        "",
        "Thresholds: " + ", ".join(f"at least {t} {v:.2f}" for t, v in classifier.thresholds.items()) + ".",
        "",
    ]
    for name, agreement in agreements.items():
        if agreement:
            lines += [
                f"Real posts ({name}): the two readers agree on the exact tier for "
                f"{agreement['exact']}/{agreement['n']} "
                f"(Cohen's kappa {agreement['kappa']:.2f}) and on risk present (moderate or above) for "
                f"{agreement['risk_agree']}/{agreement['n']} (kappa {agreement['risk_kappa']:.2f}).",
                "",
            ]
    for name, rows in sets:
        predicted = [risk.tier for risk in classifier.predict([r["text"] for r in rows])]
        lines += evaluate(name, rows, predicted)
    report = REPORT.with_name(f"message_risk_{args.model}.md")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {report.relative_to(REPO)}")


if __name__ == "__main__":
    main()
