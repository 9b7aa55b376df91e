"""`mindgate annotate import`: malformed labels are refused with the row named and nothing stored;
the migration that adds the label tables; the two commands end to end."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.annotate import LabelImportError, import_labels, read_labels
from harness.cli import main
from harness.store import LATEST_VERSION, open_db, schema_version
from tests.annotate_helpers import export_crisis, fill_csv, full_labels, label_studio_export


@pytest.fixture
def package(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "package"
    manifest = export_crisis(folder, n=4, raters=2, double_share=1.0)
    ids = sorted(manifest["items"])
    labels = {aid: full_labels({"tier": "high"}) for aid in ids}
    return {
        "manifest": folder / "manifest.json",
        "tasks": folder / "label-studio" / "tasks-rater-1-crisis.json",
        "sheet": folder / "csv" / "rater-2-crisis.csv",
        "ids": ids,
        "labels": labels,
        "db": tmp_path / "lb.db",
    }


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM annotation_labels").fetchone()[0])


def _ls(package: dict[str, Any], tmp_path: Path, edit: Any) -> Path:
    path = label_studio_export(package["tasks"], package["labels"], tmp_path / "export.json")
    tasks = json.loads(path.read_text(encoding="utf-8"))
    edit(tasks)
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def _csv(package: dict[str, Any], tmp_path: Path, edit: Any) -> Path:
    path = fill_csv(package["sheet"], "r2", package["labels"], tmp_path / "sheet.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    edit(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _set_choice(tasks: list[dict], index: int, field: str, value: str) -> None:
    for region in tasks[index]["annotations"][0]["result"]:
        if region["from_name"] == field:
            region["value"]["choices"] = [value]


CASES = {
    "unknown id (json)": (
        "json",
        lambda t: t[1]["data"].update(annotation_id="ann-000000000000"),
        r"export.json task 2 annotation 1: annotation id 'ann-000000000000' is not in the manifest",
    ),
    "bad label (json)": (
        "json",
        lambda t: _set_choice(t, 0, "tier", "severe"),
        r"export.json task 1 annotation 1: field 'tier': label 'severe' is not allowed; use one of none",
    ),
    "unknown field (json)": (
        "json",
        lambda t: t[2]["annotations"][0]["result"].append(
            {"from_name": "harmful", "type": "choices", "value": {"choices": ["1"]}}
        ),
        r"export.json task 3 annotation 1: field 'harmful' is not a field of rubric 'crisis'",
    ),
    "missing rater (json)": (
        "json",
        lambda t: [t[3]["data"].pop("rater_id"), t[3]["annotations"][0].pop("completed_by")],
        r"export.json task 4 annotation 1: rater id missing",
    ),
    "blank required (json)": (
        "json",
        lambda t: t[0]["annotations"][0].update(
            result=[r for r in t[0]["annotations"][0]["result"] if r["from_name"] != "refusal"]
        ),
        r"export.json task 1 annotation 1: field 'refusal' is blank",
    ),
    "twice, different (json)": (
        "json",
        lambda t: t.append(
            {
                **t[0],
                "annotations": [
                    {
                        **t[0]["annotations"][0],
                        "result": [
                            {**r, "value": {"choices": ["low"]}} if r["from_name"] == "tier" else r
                            for r in t[0]["annotations"][0]["result"]
                        ],
                    }
                ],
            }
        ),
        r"export.json task 5 annotation 1: field 'tier': rater r1 labelled ann-\w+ twice, 'high' in export.json task 1",
    ),
    "unknown id (csv)": (
        "csv",
        lambda rows: rows[0].update(annotation_id="ann-ffffffffffff"),
        r"sheet.csv row 2: annotation id 'ann-ffffffffffff' is not in the manifest",
    ),
    "bad label (csv)": (
        "csv",
        lambda rows: rows[2].update(harm_method="yes"),
        r"sheet.csv row 4: field 'harm_method': label 'yes' is not allowed; use one of 0, 1",
    ),
    "missing rater (csv)": ("csv", lambda rows: rows[1].update(rater_id=""), r"sheet.csv row 3: rater id missing"),
    "blank required (csv)": ("csv", lambda rows: rows[3].update(EX=""), r"sheet.csv row 5: field 'EX' is blank"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_row_is_named_and_nothing_is_stored(case: str, package: dict[str, Any], tmp_path: Path) -> None:
    kind, edit, message = CASES[case]
    bad = _ls(package, tmp_path, edit) if kind == "json" else _csv(package, tmp_path, edit)
    good = (
        fill_csv(package["sheet"], "r2", package["labels"], tmp_path / "good.csv")
        if kind == "json"
        else label_studio_export(package["tasks"], package["labels"], tmp_path / "good.json")
    )
    with pytest.raises(LabelImportError, match=message) as raised:
        import_labels([good, bad], package["manifest"], package["db"])
    assert "nothing was stored" in str(raised.value)
    assert _stored(package["db"]) == 0  # the valid file was not stored either


def test_bad_json_is_named_with_its_line(package: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "export.json"
    broken.write_text('[{"data": {"annotation_id": "x"}, ', encoding="utf-8")
    with pytest.raises(LabelImportError, match=r"export.json: not valid JSON \(line 1, column"):
        import_labels([broken], package["manifest"], package["db"])
    assert _stored(package["db"]) == 0


def test_skipped_items_and_cancelled_annotations_are_left_out(package: dict[str, Any], tmp_path: Path) -> None:
    def skip(tasks: list[dict]) -> None:
        tasks[0]["annotations"][0]["was_cancelled"] = True
        tasks[1]["annotations"] = []

    def blank(rows: list[dict]) -> None:
        rows[0].update({k: "" for k in rows[0] if k not in ("annotation_id", "content_warning", "message", "reply")})

    report = import_labels(
        [_ls(package, tmp_path, skip), _csv(package, tmp_path, blank)], package["manifest"], package["db"]
    )
    labels = read_labels(package["db"], fields=["tier"])
    assert len(labels["tier"]["r1"]) == 2 and len(labels["tier"]["r2"]) == 3
    assert report.raters == ("r1", "r2")


def test_a_label_studio_user_without_rater_id_becomes_an_opaque_rater(package: dict[str, Any], tmp_path: Path) -> None:
    export = _ls(package, tmp_path, lambda tasks: [t["data"].pop("rater_id") for t in tasks])
    import_labels([export], package["manifest"], package["db"])
    assert set(read_labels(package["db"])["tier"]) == {"ls-7"}


def test_the_label_tables_are_added_to_a_database_of_the_previous_version(package: dict[str, Any]) -> None:
    db = package["db"]
    with open_db(db, migrate_to=4) as conn:
        conn.execute(
            "INSERT INTO runs (run_id, created, model_name, model_hash, backend, status, run_dir, indexed_at) "
            "VALUES ('old', '2026-01-01T00:00:00Z', 'tiny', 'h', 'hf', 'completed', 'runs/old', '2026-01-01T00:00:00Z')"
        )
        assert "annotation_labels" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    sheet = fill_csv(package["sheet"], "r2", package["labels"], package["db"].parent / "r2.csv")
    report = import_labels([sheet], package["manifest"], db)
    assert report.stored == 4 * 17  # four items, every field but the (empty) note
    with open_db(db) as conn:
        assert schema_version(conn) == LATEST_VERSION == 5
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [("old",)]
        linked = conn.execute("SELECT DISTINCT run_id, task FROM annotation_items").fetchall()
    assert linked == [("20261203-101346-smollm2-135m-instruct-f7f8ab", "mh_crisis")]


def test_the_commands_export_and_import_with_clear_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pkg"
    assert (
        main(
            [
                "annotate",
                "export",
                "smollm2-135m-suite-v4",
                "--task",
                "mh_empathy",
                "--n",
                "4",
                "--raters",
                "2",
                "--double-share",
                "0.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "4 items (2 for two raters)" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    labels = {aid: {"ER": "1", "IP": "0", "EX": "2", "note": ""} for aid in manifest["items"]}
    sheet = fill_csv(out / "csv" / "rater-1-empathy.csv", "r1", labels, tmp_path / "r1.csv")
    db = tmp_path / "lb.db"
    assert main(["annotate", "import", str(sheet), "--manifest", str(out / "manifest.json"), "--db", str(db)]) == 0
    assert "labels stored" in capsys.readouterr().out
    rows = list(csv.DictReader(sheet.open(encoding="utf-8", newline="")))
    rows[0]["ER"] = "3"
    with sheet.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["annotate", "import", str(sheet), "--manifest", str(out / "manifest.json"), "--db", str(db)]) == 2
    assert "r1.csv row 2: field 'ER': label '3' is not allowed" in capsys.readouterr().err
