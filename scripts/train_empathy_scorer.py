"""Train the empathy scorer: a MiniLM cross-encoder over (seeker post, reply), one head per mechanism.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/train_empathy_scorer.py [--data-dir ../shared/data/epitome]
        [--epochs 4] [--seed 0]

Reads EPITOME (non-commercial academic licence), splits it by seeker post with the project's one
rule (seed 2020, 20% of posts held out: the posts mh_empathy's prompts are drawn from) and trains
on the training posts only; the held-out labels are never read here
(``scripts/validate_empathy_scorer.py`` measures on them). Each mechanism is a three-level
softmax; levels are weighted by sqrt(majority count / level count), at most 4, so the rare levels
(ER strong, IP and EX weak: 1-8% of pairs) still move the weights. The configuration was fixed
before training (the crisis classifier's, on the same encoder) and not searched.

Writes ``harness/scoring/artifacts/empathy_encoder/`` (LoRA adapter + head as safetensors,
``encoder.json`` with the label layout and the training record: data hashes, split, loss curve).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scoring._epitome import (  # noqa: E402
    HELDOUT_FRACTION,
    LEVELS,
    MECHANISMS,
    SPLIT_RULE,
    SPLIT_SEED,
    EpitomePair,
    epitome_file_hashes,
    heldout_ids_digest,
    read_epitome_pairs,
    split_pairs,
)
from harness.scoring._pair_encoder import ARTIFACTS_DIR  # noqa: E402
from harness.scoring._pair_training import PairExample, TrainingConfig, one_hot, train_pair_encoder  # noqa: E402
from harness.scoring.empathy import ARTIFACT_NAME, empathy_spec  # noqa: E402

LICENCE = "EPITOME (Sharma et al., EMNLP 2020): non-commercial academic research use only"
MAX_CLASS_WEIGHT = 4.0


def class_weights(pairs: Sequence[EpitomePair], power: float = 0.5, cap: float = MAX_CLASS_WEIGHT) -> tuple[float, ...]:
    """Per mechanism and level, (majority count / level count) ** power, capped; laid out like the head."""
    weights: list[float] = []
    for mechanism in MECHANISMS:
        counts = [sum(p.levels[mechanism] == level for p in pairs) for level in LEVELS]
        weights.extend(min(cap, (max(counts) / max(c, 1)) ** power) for c in counts)
    return tuple(float(w) for w in weights)


def is_dev_post(sp_id: str, fraction: float = 0.2) -> bool:
    """A development split inside the training posts, by another seeded hash of the post id."""
    digest = hashlib.sha256(f"epitome-dev:{sp_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def target(pair: EpitomePair) -> tuple[float, ...]:
    return tuple(v for mechanism in MECHANISMS for v in one_hot(len(LEVELS), pair.levels[mechanism]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "epitome")
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-class-weight", type=float, default=MAX_CLASS_WEIGHT)
    parser.add_argument("--class-weight-power", type=float, default=0.5, help="0.5: sqrt of the ratio; 1: balanced")
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR / ARTIFACT_NAME, help="artifact folder to write")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="hold out a development split of the training posts (is_dev_post) and train on the rest: for "
        "comparing configurations without touching the held-out posts (write --out elsewhere)",
    )
    parser.add_argument(
        "--selection",
        default="fixed before training (the crisis classifier's, on the same encoder), not searched",
        help="how this configuration was chosen, for the record and the validation report",
    )
    args = parser.parse_args(argv)
    pairs = read_epitome_pairs(args.data_dir)
    train, heldout = split_pairs(pairs, SPLIT_SEED, HELDOUT_FRACTION)
    if args.dev:
        train = [p for p in train if not is_dev_post(p.sp_id)]
    weights = class_weights(train, args.class_weight_power, args.max_class_weight)
    config = TrainingConfig(
        epochs=args.epochs, learning_rate=args.learning_rate, seed=args.seed, label_pos_weight=weights
    )
    record = {
        "licence": LICENCE,
        "class_weights": {"power": args.class_weight_power, "cap": args.max_class_weight},
        "development_split_held_back": args.dev,
        "selection": args.selection,
        "training_data": {"folder": "shared/data/epitome", "sha256": epitome_file_hashes(args.data_dir)},
        "pairs": {"total": len(pairs), "train": len(train), "heldout": len(heldout)},
        "split": {
            "rule": SPLIT_RULE,
            "seed": SPLIT_SEED,
            "heldout_fraction": HELDOUT_FRACTION,
            "heldout_posts": len({p.sp_id for p in heldout}),
            "heldout_sp_ids_sha256": heldout_ids_digest(heldout),
        },
    }
    examples = [PairExample(p.post, p.reply, target(p)) for p in train]
    training = train_pair_encoder(empathy_spec(), examples, args.out, config, record)
    print(f"trained on {len(train)} pairs in {training['wall_time_s']} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
