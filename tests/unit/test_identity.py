"""A task's identity is its content: never the checkout's path, the user, or a memory address."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.paths import PROJECT_DIR
from harness.run._identity import canonical_task_config, config_hash, task_identity, task_sources
from harness.run._portable import OUTSIDE, portable_path, portable_record, portable_text
from harness.store import read_run

BASELINE = PROJECT_DIR / "reports" / "baselines" / "smollm2-135m-suite-v4"


def _task(folder: Path) -> Path:
    """A task folder like the project's: a template YAML with a hook, the task YAML including it,
    a hooks module with a helper, a data file."""
    folder.mkdir(parents=True)
    (folder / "_template.yaml").write_text("doc_to_text: !function utils.prompt\noutput_type: multiple_choice\n")
    (folder / "quiz.yaml").write_text(
        "include: _template.yaml\ntask: quiz\ncustom_dataset: !function utils.load\n"
        "dataset_kwargs:\n  splits:\n    test: items.jsonl\nmetadata:\n  version: 1.0\n"
    )
    hooks = "def _helper(doc):\n    return doc['q']\n\n\ndef prompt(doc):\n    return _helper(doc)\n"
    (folder / "utils.py").write_text(hooks)
    (folder / "data").mkdir()
    (folder / "data" / "items.jsonl").write_text('{"q": "one"}\n{"q": "two"}\n')
    return folder / "quiz.yaml"


def _lm_eval_config(yaml_path: Path, address: str = "0x7f00aa") -> dict:
    """What lm-eval stores for a task: hook sources at the top level, reprs (with addresses)
    in nested fields, and the YAML's absolute path in metadata."""
    return {
        "task": "quiz",
        "doc_to_text": "def prompt(doc):\n    return _helper(doc)\n",
        "fewshot_config": {"doc_to_text": f"<function prompt at {address}>"},
        "metadata": {"version": 1.0, "config_source": str(yaml_path)},
    }


def test_the_config_hash_is_the_same_in_two_checkouts_and_two_processes(tmp_path: Path) -> None:
    one = _lm_eval_config(tmp_path / "a" / "tasks" / "quiz.yaml", "0x7f94d392b100")
    other = _lm_eval_config(Path("/somewhere/else/tasks/quiz.yaml"), "0x55d0c0ffee00")
    assert config_hash(one) == config_hash(other)
    assert "config_source" not in canonical_task_config(one)["metadata"]
    changed = {**one, "doc_to_text": "def prompt(doc):\n    return 'Q: ' + _helper(doc)\n"}
    assert config_hash(changed) != config_hash(one)


def test_a_record_written_before_portability_is_rehashed_without_its_checkout_path(tmp_path: Path) -> None:
    """Records made before task identity was portable stored lm-eval's config_source (the YAML's
    absolute path) and a config hash that included it; read back, they get the path-free hash."""
    legacy = tmp_path / "legacy-run"
    shutil.copytree(BASELINE, legacy)
    record = json.loads((legacy / "run.json").read_text())
    config = record["lm_eval"]["configs"]["mh_crisis"]
    config.setdefault("metadata", {})["config_source"] = "/old/machine/checkout/tasks/mh_crisis/mh_crisis.yaml"
    record["tasks"]["mh_crisis"]["config_hash"] = "0" * 64  # what the path-dependent hash gave there
    (legacy / "run.json").write_text(json.dumps(record))
    baseline = read_run(legacy)
    moved = {**config, "metadata": {**config["metadata"], "config_source": "/elsewhere/tasks/mh_crisis/mh_crisis.yaml"}}
    assert baseline.task_info("mh_crisis")["config_hash"] == config_hash(moved)
    assert baseline.task_info("mh_crisis")["config_hash"] == read_run(BASELINE).task_info("mh_crisis")["config_hash"]
    assert baseline.task_info("mh_crisis")["config_hash"] != record["tasks"]["mh_crisis"]["config_hash"]


def test_hooks_and_data_are_hashed_by_content_wherever_the_task_lives(tmp_path: Path) -> None:
    here = _task(tmp_path / "here" / "quiz")
    there = tmp_path / "elsewhere" / "deeper" / "quiz"
    shutil.copytree(here.parent, there)
    identity_here = task_identity(_lm_eval_config(here))
    identity_there = task_identity(_lm_eval_config(there / "quiz.yaml"))
    assert identity_here == identity_there
    assert identity_here["hooks_hash"] and identity_here["data_hash"]
    sources = task_sources(here)
    assert set(sources.hooks) == {"utils.prompt", "utils.load"}  # the include's hook too
    assert set(sources.data) == {"items.jsonl"}

    (there / "utils.py").write_text((there / "utils.py").read_text().replace("doc['q']", "doc['q'].upper()"))
    changed_helper = task_identity(_lm_eval_config(there / "quiz.yaml"))
    assert changed_helper["hooks_hash"] != identity_here["hooks_hash"]  # a helper, not the hook itself
    assert changed_helper["config_hash"] == identity_here["config_hash"]

    (there / "data" / "items.jsonl").write_text('{"q": "one"}\n{"q": "three"}\n')
    assert task_identity(_lm_eval_config(there / "quiz.yaml"))["data_hash"] != identity_here["data_hash"]


def test_windows_line_endings_in_a_hook_module_are_the_same_source(tmp_path: Path) -> None:
    unix = _task(tmp_path / "unix" / "quiz")
    windows = _task(tmp_path / "windows" / "quiz")
    (windows.parent / "utils.py").write_bytes((unix.parent / "utils.py").read_bytes().replace(b"\n", b"\r\n"))
    assert task_sources(unix).hooks == task_sources(windows).hooks


def test_portable_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINDGATE_HOME", str(tmp_path / "home"))
    assert portable_path(PROJECT_DIR / "tasks" / "mh_crisis") == "tasks/mh_crisis"
    assert portable_path(tmp_path / "home" / "models" / "m") == "$MINDGATE_HOME/models/m"
    assert portable_path("adapters/candidate") == "adapters/candidate"  # relative as given
    assert portable_path(tmp_path / "elsewhere") is None
    text = f"--model {tmp_path}/home/models/m --lora a={PROJECT_DIR}/adapters/a {Path.home()}/x {PROJECT_DIR}-other"
    assert portable_text(text) == f"--model $MINDGATE_HOME/models/m --lora a=adapters/a ~/x {PROJECT_DIR}-other"


def test_a_run_record_keeps_no_machine_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MINDGATE_HOME", str(home))
    outside = tmp_path / "adapters" / "sft"
    record = {
        "config": {"model": str(PROJECT_DIR / "models" / "base"), "adapters": [f"sft={outside}"], "tasks": ["x"]},
        "model": {"name": "base", "path": str(PROJECT_DIR / "models" / "base"), "source": "local"},
        "adapter": {"name": "sft", "path": str(outside), "declared_base": str(home / "models" / "base")},
        "lm_eval": {
            "config": {"model_args": {"pretrained": str(home / "models" / "base"), "peft": str(outside)}},
            "configs": {"x": {"metadata": {"version": 1.0, "config_source": str(PROJECT_DIR / "tasks" / "x.yaml")}}},
        },
        "server": {"command": ["python", "-m", "vllm", "--model", str(home / "models" / "base")]},
    }
    portable = portable_record(record)
    text = json.dumps(portable)
    for machine in (str(tmp_path), str(PROJECT_DIR), str(Path.home())):
        assert machine not in text, machine
    assert portable["model"]["path"] == "models/base" and portable["config"]["model"] == "models/base"
    assert portable["adapter"]["path"] is None and portable["config"]["adapters"] == [f"sft={OUTSIDE}"]
    assert portable["adapter"]["declared_base"] == "$MINDGATE_HOME/models/base"
    assert portable["lm_eval"]["config"]["model_args"] == {"pretrained": "$MINDGATE_HOME/models/base", "peft": OUTSIDE}
    assert portable["lm_eval"]["configs"]["x"]["metadata"] == {"version": 1.0}
    assert portable_record(portable) == portable  # reading and re-writing changes nothing


def test_files_a_scorer_reads_are_part_of_the_identity(tmp_path: Path) -> None:
    """A retrained scorer or an edited rubric is another task, though no hook's code changed."""
    quiz = _task(tmp_path / "repo" / "tasks" / "quiz")
    rubric = tmp_path / "repo" / "rubrics" / "quiz.yaml"
    rubric.parent.mkdir(parents=True)
    rubric.write_text("threshold: 0.5\n")
    quiz.write_text(quiz.read_text() + "  identity_files: [../../rubrics/quiz.yaml]\n")
    before = task_identity(_lm_eval_config(quiz))
    assert "file:../../rubrics/quiz.yaml" in task_sources(quiz).hooks
    rubric.write_text("threshold: 0.4\n")
    after = task_identity(_lm_eval_config(quiz))
    assert after["hooks_hash"] != before["hooks_hash"]
    assert after["config_hash"] == before["config_hash"]
    rubric.unlink()
    with pytest.raises(FileNotFoundError, match="identity_files"):
        task_sources(quiz)


@pytest.mark.parametrize("task", ["mh_crisis", "mh_empathy"])
def test_the_scored_tasks_name_what_their_scorers_read(task: str) -> None:
    hooks = task_sources(PROJECT_DIR / "tasks" / task / f"{task}.yaml").hooks
    listed = [name for name in hooks if name.startswith("file:")]
    expected = {
        "mh_crisis": {"rubric.yaml", "patterns.yaml", "classifier.yaml", "hotlines.yaml", "encoder.json"},
        "mh_empathy": {"encoder.json"},
    }[task]
    assert {Path(name).name for name in listed} == expected
