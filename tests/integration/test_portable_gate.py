"""A baseline made in one clone gates a run made in another clone, at another path, with another
MINDGATE_HOME (another machine, as far as a run record can tell); a real change to a task still
makes the gate refuse. Each clone is a ``git clone`` of this repository with the working tree's
uncommitted changes copied over it, run with the clone's own code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

# Log-likelihood tasks only, to stay quick (generation tasks are covered by test_gate_driven.py);
# mh_dsm5_meets has hook functions for prompts, parsing and its record metrics.
TASKS = "mh_dsm5_meets,mh_medqa_psychiatry"
LIMIT = "3"
RULES = {
    "version": 1,
    "allow_partial_runs": True,
    "rules": [
        {
            "id": "medqa-accuracy",
            "type": "non_inferiority",
            "task": "mh_medqa_psychiatry",
            "metric": "acc",
            "direction": "higher",
            "kind": "binary",
            "margin": 0.10,
        },
        {
            "id": "dsm5-meets-sensitivity",
            "type": "non_inferiority",
            "task": "mh_dsm5_meets",
            "metric": "sensitivity",
            "direction": "higher",
            "kind": "binary",
            "margin": 0.05,
        },
    ],
}


@dataclass(frozen=True)
class Clone:
    root: Path
    home: Path

    def mindgate(self, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MINDGATE_")}
        env |= {"MINDGATE_HOME": str(self.home), "PYTHONPATH": str(self.root), "COLUMNS": "200"}
        env["MINDGATE_DB"] = str(self.home / "leaderboard.db")
        return subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def runs(self) -> set[Path]:
        folder = self.root / "reports" / "runs"
        return {p for p in folder.iterdir() if not p.name.startswith(".")} if folder.is_dir() else set()

    def eval(self, *args: str) -> Path:
        """``mindgate eval`` in this clone; the run directory it wrote."""
        before = self.runs()
        made = self.mindgate("eval", *args)
        assert made.returncode == 0, made.stderr[-3000:]
        (run,) = self.runs() - before
        return run


def clone_working_tree(destination: Path) -> Path:
    """``git clone`` of this repository, then the working tree's changes (modified, new and deleted
    files, .gitignore respected) applied over it, so the clone runs the code under test."""
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_DIR), str(destination)], check=True, timeout=300)

    def listed(*args: str) -> list[str]:
        out = subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, check=True, timeout=60).stdout
        return [name for name in out.decode().split("\0") if name]

    changed = listed("diff", "--name-only", "-z", "HEAD") + listed("ls-files", "--others", "--exclude-standard", "-z")
    for name in changed:
        source, target = PROJECT_DIR / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists():
            target.unlink()
    return destination


def home_with_model(home: Path, default_model_dir: Path) -> Path:
    """A MINDGATE_HOME of its own, holding the converted bundled model (hard links: same bytes,
    another path, no second conversion)."""
    target = home / "models" / default_model_dir.name
    shutil.copytree(default_model_dir, target, copy_function=os.link)
    return home


@pytest.fixture(scope="module")
def clones(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> tuple[Clone, Clone]:
    first = tmp_path_factory.mktemp("machine-a")
    second = tmp_path_factory.mktemp("machine-b")
    a = Clone(clone_working_tree(first / "mindgate"), home_with_model(first / "home", default_model_dir))
    b = Clone(clone_working_tree(second / "work" / "elsewhere"), home_with_model(second / "cache", default_model_dir))
    return a, b


@pytest.fixture(scope="module")
def baseline(clones: tuple[Clone, Clone]) -> Path:
    a, _ = clones
    run = a.eval("--tasks", TASKS, "--limit", LIMIT)
    promoted = a.mindgate("baseline", "promote", str(run), "--name", "portable-check")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    return a.root / "reports" / "baselines" / "portable-check"


def rules_path(folder: Path, only: str | None = None) -> Path:
    rules = dict(RULES)
    if only:
        rules["rules"] = [rule for rule in RULES["rules"] if rule["task"] == only]
    path = folder / f"rules-{only or 'all'}.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def test_each_clone_runs_its_own_code(clones: tuple[Clone, Clone]) -> None:
    for clone in clones:
        found = subprocess.run(
            [sys.executable, "-c", "import harness; print(harness.__file__)"],
            cwd=clone.root,
            env={**os.environ, "PYTHONPATH": str(clone.root)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert Path(found).is_relative_to(clone.root), found


def test_a_baseline_from_one_clone_gates_a_run_from_another(
    clones: tuple[Clone, Clone], baseline: Path, tmp_path: Path
) -> None:
    a, b = clones
    candidate = b.eval("--tasks", TASKS, "--limit", LIMIT)
    rules = rules_path(tmp_path)
    gate = b.mindgate("gate", "--candidate", str(candidate), "--baseline", str(baseline), "--rules", str(rules))
    assert gate.returncode in (0, 1), gate.stdout[-2000:] + gate.stderr[-3000:]
    assert "gate ACCEPT" in gate.stdout or "gate REJECT" in gate.stdout

    record_b = json.loads((candidate / "run.json").read_text())
    record_a = json.loads((baseline / "run.json").read_text())
    for task in TASKS.split(","):
        for field in ("config_hash", "hooks_hash", "data_hash", "items_hash"):
            assert record_a["tasks"][task][field] == record_b["tasks"][task][field], (task, field)
    for record, clone in ((record_a, a), (record_b, b)):
        text = json.dumps(record)
        for machine in (str(clone.root), str(clone.home), str(Path.home()), str(clone.root.parent)):
            assert machine not in text, f"{machine} in a run record"
    assert str(a.root) not in (baseline / "BASELINE.json").read_text()


CHANGES = {
    # the prompt, in a YAML the task includes
    "prompt": (
        "tasks/mh_clinical_mcq/_mmlu_cloze_template.yaml",
        'doc_to_text: "Question:',
        'doc_to_text: "Q:',
        "config_hash",
    ),
    # a helper the hook module uses (not the hook function itself)
    "hook source": (
        "tasks/mh_clinical_mcq/utils.py",
        "len(choices) < 2",
        "len(choices) < 3",
        "hooks_hash",
    ),
    # the data beyond the --limit (the last row): the items evaluated are the same, the task is not
    "data": (
        "tasks/mh_clinical_mcq/data/medqa_psych_test.jsonl",
        '"question": "',
        '"question": "Revised: ',
        "data_hash",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_real_change_to_a_task_still_makes_the_gate_refuse(
    clones: tuple[Clone, Clone], baseline: Path, tmp_path: Path, change: str
) -> None:
    _, b = clones
    relative, old, new, field = CHANGES[change]
    path = b.root / relative
    original = path.read_text(encoding="utf-8")
    if change == "data":  # the last row only, far beyond the limit
        head, last = original.rstrip("\n").rsplit("\n", 1)
        changed = head + "\n" + last.replace(old, new) + "\n"
    else:
        changed = original.replace(old, new, 1)
    assert changed != original
    try:
        path.write_text(changed, encoding="utf-8")
        candidate = b.eval("--tasks", "mh_medqa_psychiatry", "--limit", "1")  # paired with the baseline on that item
        rules = rules_path(tmp_path, only="mh_medqa_psychiatry")
        gate = b.mindgate("gate", "--candidate", str(candidate), "--baseline", str(baseline), "--rules", str(rules))
        shutil.rmtree(candidate)
    finally:
        path.write_text(original, encoding="utf-8")
    assert gate.returncode == 2, gate.stdout[-2000:] + gate.stderr[-2000:]
    assert f"tasks.mh_medqa_psychiatry.{field}" in gate.stderr, gate.stderr[-2000:]


def test_a_task_that_fails_is_named_and_the_other_tasks_are_kept(clones: tuple[Clone, Clone]) -> None:
    """Bad data in one task (a minimal pair with two positive members) makes its aggregation fail;
    the run is still written with the other task, marked incomplete, and eval exits 1."""
    _, b = clones
    path = b.root / "tasks" / "mh_dsm5_consistency" / "data" / "items.jsonl"
    original = path.read_text(encoding="utf-8")
    rows = original.splitlines()
    target = next(i for i, row in enumerate(rows) if '"item_id": "acute_stress-000-negative-duration_too_short"' in row)
    assert target < 7 and '"meets_criteria": false' in rows[target]
    rows[target] = rows[target].replace('"meets_criteria": false', '"meets_criteria": true')
    before = b.runs()
    try:
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        result = b.mindgate("eval", "--tasks", "mh_dsm5_meets,mh_medqa_psychiatry", "--limit", "7")
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode == 1, result.stderr[-3000:]
    (run,) = b.runs() - before
    record = json.loads((run / "run.json").read_text())
    shutil.rmtree(run)
    assert record["status"] == "incomplete"
    assert set(record["tasks"]) == {"mh_medqa_psychiatry"}
    assert record["tasks"]["mh_medqa_psychiatry"]["n_evaluated"] == 7
    message = record["task_errors"]["mh_dsm5_meets"]
    assert message.startswith("task mh_dsm5_meets: ") and "pair 'acute_stress-000:duration_too_short' has 2" in message
    assert "task failed" in result.stderr and "incomplete run" in result.stderr
