"""Shared by the annotate tests: a package from the committed baseline run, and raters who fill
it in, one through Label Studio's JSON export and one through the CSV sheet."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.annotate import ExportOptions, export_package, load_schema
from harness.paths import REPORTS_DIR
from harness.store import read_run

BASELINE = REPORTS_DIR / "baselines" / "smollm2-135m-suite-v4"


def export_crisis(out: Path, n: int = 8, raters: int = 2, double_share: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """A crisis-only package; returns the manifest."""
    options = ExportOptions(
        tasks=("mh_crisis",), sample="stratified", n=n, seed=seed, raters=raters, double_share=double_share
    )
    manifest_path = export_package([read_run(BASELINE)], options, out)
    return dict(json.loads(manifest_path.read_text(encoding="utf-8")))


def full_labels(overrides: Mapping[str, str]) -> dict[str, str]:
    """Every crisis field labelled: the overrides, "0"/"none" elsewhere, no note."""
    rubric = load_schema().rubrics["crisis"]
    base = {f.name: (f.values[0] if f.values else "") for f in rubric.fields}
    return {**base, **overrides}


def label_studio_export(
    tasks_file: Path, labels: Mapping[str, Mapping[str, str]], out: Path, completed_by: int = 7
) -> Path:
    """What Label Studio's JSON export gives for the imported tasks once labelled: each task with
    its data and an annotation whose result holds one choices/textarea region per field."""
    exported = []
    for number, task in enumerate(json.loads(tasks_file.read_text(encoding="utf-8")), start=1):
        by_field = labels[task["data"]["annotation_id"]]
        result = []
        for field, value in by_field.items():
            if field == "note":
                if value:
                    result.append(
                        {
                            "id": f"n{number}",
                            "from_name": field,
                            "to_name": "reply",
                            "type": "textarea",
                            "origin": "manual",
                            "value": {"text": [value]},
                        }
                    )
                continue
            result.append(
                {
                    "id": f"{field}{number}",
                    "from_name": field,
                    "to_name": "reply",
                    "type": "choices",
                    "origin": "manual",
                    "value": {"choices": [value]},
                }
            )
        exported.append(
            {
                "id": number,
                "data": task["data"],
                "annotations": [
                    {
                        "id": 1000 + number,
                        "completed_by": completed_by,
                        "result": result,
                        "was_cancelled": False,
                        "ground_truth": False,
                        "lead_time": 12.5,
                        "task": number,
                        "created_at": "2026-12-05T10:00:00.000000Z",
                    }
                ],
                "predictions": [],
                "project": 3,
            }
        )
    out.write_text(json.dumps(exported, indent=1), encoding="utf-8")
    return out


def fill_csv(sheet: Path, rater: str, labels: Mapping[str, Mapping[str, str]], out: Path) -> Path:
    """The rater's sheet with their id and labels written in, as a spreadsheet saves it."""
    with sheet.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0])
    for row in rows:
        row["rater_id"] = rater
        row.update(labels[row["annotation_id"]])
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out
