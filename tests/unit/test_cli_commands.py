"""The ``mindgate`` subcommands that read runs (compare, gate, report, leaderboard, baseline), run
through ``harness.cli.main`` on small run directories: exit codes, output and files written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import PROVENANCE_NAME, read_run
from tests.runfactory import HARMFUL_FLOOR, QUIZ_NON_INFERIOR, crisis_row, crisis_rows, quiz_rows, rules_file, write_run


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runs folder with a baseline, an acceptable candidate, a harmful one and an unrelated run;
    run ids resolve against it and baselines go to a temporary folder."""
    root = tmp_path / "runs"
    monkeypatch.setenv("MINDGATE_RUNS_DIR", str(root))
    monkeypatch.setenv("MINDGATE_BASELINES_DIR", str(tmp_path / "baselines"))
    monkeypatch.setenv("COLUMNS", "250")
    write_run(root, "base", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(100))})
    write_run(root, "good", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(2, 101))}, adapter="good")
    harmful = [crisis_row("c-bad", "<b>do it</b>", safe=False, harmful=True), *crisis_rows()]
    write_run(root, "harmful", {"mh_crisis": harmful, "quiz": quiz_rows(range(100))}, adapter="harmful")
    write_run(root, "other-items", {"mh_crisis": crisis_rows(n=90), "quiz": quiz_rows(range(50), n=150)}, adapter="o")
    return root


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_file(tmp_path, HARMFUL_FLOOR, QUIZ_NON_INFERIOR)


def test_compare_prints_the_paired_comparison_as_json(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "base", str(runs / "good"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    (quiz,) = [m for m in record["metrics"] if (m["task"], m["metric"]) == ("quiz", "acc")]
    assert (record["run_a"], record["run_b"], quiz["n"]) == ("base", "good", 200)
    assert quiz["difference"] == pytest.approx(-0.005)  # loses q0, q1; gains q100


def test_compare_of_a_missing_run_exits_2_naming_it(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "base", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("candidate", "exit_code", "message"),
    [("good", 0, "ACCEPT"), ("harmful", 1, "REJECT"), ("other-items", 2, "items_hash"), ("base", 2, "baseline run")],
)
def test_gate_exit_codes(
    runs: Path,
    rules: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    candidate: str,
    exit_code: int,
    message: str,
) -> None:
    db = tmp_path / "lb.db"
    args = ["gate", "--candidate", candidate, "--baseline", str(runs / "base"), "--rules", str(rules), "--db", str(db)]
    assert main(args) == exit_code
    out, err = capsys.readouterr()
    assert message in err
    assert db.exists() == (exit_code != 2)  # an unusable input stores no verdict
    if exit_code != 2:  # not a terminal: one block per rule, evidence on full-width lines, no table
        verdict = "REJECT" if exit_code else "ACCEPT"
        assert out.startswith(f"gate {verdict}: candidate {candidate} vs baseline base\n")
        assert "┃" not in out and "rules: " in out
        assert any(line.startswith(("PASS ", "FAIL ")) and "[floor: " in line for line in out.splitlines())
        (saved,) = (runs / candidate / "verdicts").glob("*-vs-base-*.json")
        assert json.loads(saved.read_text())["verdict"] == ("reject" if exit_code else "accept")
        assert "verdict saved in" in err
    else:
        assert not (runs / candidate / "verdicts").exists()


def test_a_promoted_baseline_is_gated_against_by_name(
    runs: Path, rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["baseline", "promote", "base", "--name", "suite-v1"]) == 0
    promoted = tmp_path / "baselines" / "suite-v1"
    assert read_run(promoted).record == read_run(runs / "base").record
    provenance = json.loads((promoted / PROVENANCE_NAME).read_text())
    assert provenance["run_id"] == "base" and str(tmp_path) not in json.dumps(provenance)
    assert not [path for path in promoted.parent.iterdir() if path.name.startswith(".")]  # no staging left
    db = str(tmp_path / "lb.db")
    assert main(["gate", "--candidate", "good", "--baseline", "suite-v1", "--rules", str(rules), "--db", db]) == 0
    assert main(["gate", "--candidate", str(promoted), "--baseline", "base", "--rules", str(rules), "--db", db]) == 2
    assert "is the baseline run itself" in capsys.readouterr().err


def test_promote_refuses_to_overwrite_without_force(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["baseline", "promote", "base", "--name", "v1"]) == 0
    assert main(["baseline", "promote", "good", "--name", "v1"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert read_run(tmp_path / "baselines" / "v1").run_id == "base"
    assert main(["baseline", "promote", "good", "--name", "v1", "--force"]) == 0
    assert read_run(tmp_path / "baselines" / "v1").run_id == "good"
    assert sorted(path.name for path in (tmp_path / "baselines").iterdir()) == ["v1"]
    assert main(["baseline", "promote", "good", "--name", "../escape"]) == 2
    assert "baseline name '../escape'" in capsys.readouterr().err


def test_report_writes_the_page_where_asked(runs: Path, rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "page.html"
    args = ["report", "harmful", "--baseline", "base", "--rules", str(rules), "--out", str(out), "--samples", "2"]
    assert main(args) == 0
    page = out.read_text()
    assert "harmful against the baseline base" in page and 'class="reject">REJECT<' in page
    assert "&lt;b&gt;do it&lt;/b&gt;" in page and "<b>do it</b>" not in page


def test_report_goes_to_reports_html_by_default(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("harness.report._write.html_reports_dir", lambda: tmp_path / "html")
    assert main(["report", "base"]) == 0
    assert main(["report", "base", "good"]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "html" / "base.html"), str(tmp_path / "html" / "compare-base-good.html")]
    assert all(Path(path).is_file() for path in written)


def test_report_of_an_incomplete_run_directory_exits_2_naming_the_file(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "half").mkdir()
    assert main(["report", str(tmp_path / "half"), "--out", str(tmp_path / "x.html")]) == 2
    assert "half/run.json: missing" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_leaderboard_table_and_exports(
    runs: Path, rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "lb.db")
    assert main(["gate", "--candidate", "harmful", "--baseline", "base", "--rules", str(rules), "--db", db]) == 1
    capsys.readouterr()
    (runs / "broken").mkdir()  # a run directory without run.json: skipped and named, not fatal
    assert main(["leaderboard", "--db", db, "--rebuild"]) == 0
    out, err = capsys.readouterr()
    table = out
    assert "run(s) indexed, 0 no longer on disk removed, 1 unreadable skipped" in err
    assert "skipped " in err and "broken" in err
    assert "mh_crisis" in table and "quiz" in table and "model + adapter" in table
    assert "0.500 [0.431, 0.569]" in table and "n=200" in table  # base on quiz
    assert "✗ rejected" in table
    assert main(["leaderboard", "--db", db, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(row["run_id"], row["task"]) for row in rows} >= {("base", "quiz"), ("harmful", "mh_crisis")}
    assert main(["leaderboard", "--db", db, "--format", "json", "--task", "quiz"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {record["task"] for record in records} == {"quiz"}
    assert [r["verdict"] for r in records if r["run_id"] == "harmful"] == ["reject"]


def test_gate_needs_either_a_candidate_run_or_a_model_to_evaluate(
    runs: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "--baseline", "base", "--rules", str(rules)]) == 2
    assert "give either --candidate RUN" in capsys.readouterr().err
    both = ["gate", "--baseline", "base", "--candidate", "good", "--adapter", "x=/nowhere", "--rules", str(rules)]
    assert main(both) == 2


def test_gate_driven_evaluation_refuses_a_limit_its_rules_would_refuse(
    runs: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["gate", "--baseline", "base", "--model", "smollm2-135m-instruct", "--limit", "5", "--rules", str(rules)]
    assert main(command) == 2
    assert "refuses partial runs (allow_partial_runs: false)" in capsys.readouterr().err
