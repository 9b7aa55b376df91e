"""Copy the MMLU psychology subjects from the shared data folder into the task's data folder.

The CSVs (no header: question,A,B,C,D,answer) become JSONL rows with the same fields as the
Hugging Face ``cais/mmlu`` data set (question, subject, choices, answer as an index), plus a
stable id, so that lm-eval's own MMLU configs can read these files unchanged for cross-checks.

Usage: python scripts/build_mmlu_data.py [--shared ../shared/data/mmlu-medpsych]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
from pathlib import Path

SUBJECTS = ("professional_psychology", "high_school_psychology")
SPLITS = ("test", "dev")
LETTERS = "ABCD"
OUT_DIR = Path(__file__).resolve().parent.parent / "tasks" / "mh_clinical_mcq" / "data"


def convert(csv_path: Path, subject: str, split: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for index, record in enumerate(csv.reader(handle)):
            if len(record) != 6 or record[5] not in LETTERS:
                raise SystemExit(f"{csv_path}:{index + 1}: expected question,A,B,C,D,answer; got {record!r}")
            rows.append(
                {
                    "id": f"mmlu-{subject}-{split}-{index:04d}",
                    "question": record[0],
                    "subject": subject,
                    "choices": record[1:5],
                    "answer": LETTERS.index(record[5]),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data/mmlu-medpsych"))
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    source_lines = []
    for subject in SUBJECTS:
        for split in SPLITS:
            csv_path = args.shared / split / f"{subject}_{split}.csv"
            rows = convert(csv_path, subject, split)
            out = OUT_DIR / f"mmlu_{subject}_{split}.jsonl"
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
            source_lines.append(f"{out.name}: {len(rows)} rows from {csv_path.name} (sha256 {digest})")
    shutil.copyfile(args.shared / "LICENSE", OUT_DIR / "LICENSE-mmlu")
    upstream = (args.shared / "SOURCE.txt").read_text(encoding="utf-8")
    (OUT_DIR / "SOURCE-mmlu.txt").write_text(
        "MMLU (Hendrycks et al., ICLR 2021), final release, MIT licence (LICENSE-mmlu).\n"
        "Converted by scripts/build_mmlu_data.py; answer letters became indices 0-3.\n\n"
        + "\n".join(source_lines)
        + "\n\nUpstream record of the CSVs:\n"
        + "\n".join(
            line
            for line in upstream.splitlines()
            if not line.startswith("file=") or any(s in line for s in (*SUBJECTS, "file=LICENSE"))
        )
        + "\n",
        encoding="utf-8",
    )
    print("\n".join(source_lines))


if __name__ == "__main__":
    main()
