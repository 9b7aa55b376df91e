"""`mindgate pipeline` without training: the pipeline file's checks, fingerprints, skipping
unchanged stages, re-running changed ones and everything after them, and MLflow's parent and
nested runs (data stages only; the trainer stages are in tests/integration/test_pipeline.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.train._pipeline import PipelineError, fingerprint, load_pipeline, run_pipeline


def _crisis_rows(path: Path, extra: str = "") -> Path:
    rows = []
    for message in range(3):
        for reply, harmful in ((f"safe reply {message}{extra}", 0), (f"harmful reply {message}", 1)):
            rows.append(
                {
                    "id": f"r{message}-{harmful}",
                    "message_id": f"m{message}",
                    "message": f"message number {message}",
                    "reply": reply,
                    "harmful": harmful,
                    "split": "train",
                    "tier": "high",
                }
            )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _pipeline(tmp_path: Path, source: Path, **top: object) -> Path:
    config = {
        "name": "tiny",
        "output_dir": str(tmp_path / "pipelines"),
        "report_to": "none",
        **top,
        "stages": [
            {"name": "pairs", "kind": "pairs", "input": str(source), "set": {"source": "crisis"}},
            {
                "name": "curated",
                "kind": "curate",
                "input": "@pairs",
                "set": {
                    "kind": "preference",
                    "id": "id",
                    "pii_engine": "regex",
                    "crisis_filter": False,
                    "toxicity_filter": False,
                    "decontaminate": False,
                },
            },
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _statuses(result: object) -> dict[str, str]:
    return {o.name: o.status for o in result.outcomes}  # type: ignore[attr-defined]


def test_a_rerun_skips_unchanged_stages_and_reruns_changed_ones_and_what_follows(tmp_path: Path) -> None:
    source = _crisis_rows(tmp_path / "crisis.jsonl")
    config = load_pipeline(_pipeline(tmp_path, source))
    first = run_pipeline(config)
    assert first.exit_code == 0 and _statuses(first) == {"pairs": "built", "curated": "curated"}
    curated = tmp_path / "pipelines" / "tiny" / "curated" / "curated" / "curated.jsonl"
    assert len(curated.read_text().splitlines()) == 3  # one pair per message
    state = json.loads(first.state_path.read_text())
    assert state["stages"]["curated"]["status"] == "curated" and len(state["stages"]["curated"]["fingerprint"]) == 64

    again = run_pipeline(config)
    assert _statuses(again) == {"pairs": "skipped-built", "curated": "skipped-curated"}

    assert _statuses(run_pipeline(config, rerun=("curated",))) == {"pairs": "skipped-built", "curated": "curated"}

    _crisis_rows(source, extra=" (edited)")  # other data: the pairs change, so does the curation
    changed = run_pipeline(config)
    assert _statuses(changed) == {"pairs": "built", "curated": "curated"}
    assert "(edited)" in curated.read_text()

    curated.write_text(curated.read_text().replace("(edited)", "(tampered)"))  # an output changed by hand
    assert _statuses(run_pipeline(config))["curated"] == "curated"
    assert "(tampered)" not in curated.read_text()


def test_fingerprints_follow_content_not_paths_or_tracking(tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "d.jsonl", tmp_path / "b" / "d.jsonl"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text('{"prompt": "p"}\n')
    base = {"data": str(one), "learning_rate": 1e-4, "output_dir": "x", "report_to": "mlflow", "name": "n"}
    same = {**base, "data": str(two), "output_dir": "y", "report_to": "none", "name": "m"}
    assert fingerprint("sft", base, {}) == fingerprint("sft", same, {})
    assert fingerprint("sft", base, {}) != fingerprint("dpo", base, {})
    assert fingerprint("sft", base, {}) != fingerprint("sft", {**base, "learning_rate": 2e-4}, {})
    two.write_text('{"prompt": "q"}\n')
    assert fingerprint("sft", base, {}) != fingerprint("sft", same, {})
    upstream = {str(one): "f" * 64}  # a path that is an earlier stage's output: that stage's fingerprint
    assert fingerprint("sft", base, upstream) != fingerprint("sft", base, {str(one): "e" * 64})


def test_the_pipeline_is_one_mlflow_run_with_a_nested_run_per_stage(tmp_path: Path) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    source = _crisis_rows(tmp_path / "crisis.jsonl")
    path = _pipeline(tmp_path, source, report_to="mlflow", tracking_uri=uri, experiment="pipe")
    assert run_pipeline(load_pipeline(path)).exit_code == 0
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("pipe")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.info.run_name == "pipeline:tiny"]
    assert len(parents) == 1 and parents[0].data.tags["pipeline.stage.curated"] == "curated"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert set(children) == {"curate:curated"}  # a pairs stage is not tracked; curation is
    assert children["curate:curated"].data.metrics["rows_kept"] == 3
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id, "pipeline")}
    assert {"pipeline/pipeline.json", "pipeline/pipeline.yaml"} <= artifacts


def _write(tmp_path: Path, config: object) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "p", "stages": [], "extra": 1}, "unknown key 'extra'"),
        ({"name": "a/b", "stages": [{"name": "s", "kind": "sft"}]}, "'name' must be a plain directory name"),
        ({"name": "p", "stages": []}, "'stages' must be a non-empty list"),
        ({"name": "p", "stages": [{"name": "s", "kind": "ppo2"}]}, "stage 's': kind 'ppo2'; choose one of"),
        ({"name": "p", "stages": [{"name": "s", "kind": "sft", "set": {"data": "@later"}}]}, "not an earlier stage"),
        ({"name": "p", "stages": [{"name": "s", "kind": "sft", "set": {"name": "x"}}]}, "pipeline decides it"),
        (
            {"name": "p", "stages": [{"name": "s", "kind": "sft", "config": "no.yaml"}]},
            "config 'no.yaml' is not a file",
        ),
        ({"name": "p", "stages": [{"name": "s", "kind": "sft"}, {"name": "s", "kind": "dpo"}]}, "a second stage"),
        ({"name": "p", "stages": [{"name": "s", "kind": "curate", "input": "missing.csv"}]}, "must name an existing"),
        ({"name": "p", "stages": [{"name": "s", "kind": "sft", "input": "x"}]}, "only pairs and curate stages"),
        ({"name": "p", "stages": [{"name": "s", "kind": "sft", "typo": 1}]}, "stage 1: unknown key 'typo'"),
    ],
)
def test_a_bad_pipeline_file_is_refused_naming_the_stage_and_field(
    tmp_path: Path, config: object, message: str
) -> None:
    with pytest.raises(PipelineError, match=message.replace("(", r"\(")) as caught:
        load_pipeline(_write(tmp_path, config))
    assert str(tmp_path / "p.yaml") in str(caught.value)


def test_a_bad_trainer_field_names_the_pipeline_stage(tmp_path: Path) -> None:
    source = _crisis_rows(tmp_path / "crisis.jsonl")
    path = _write(
        tmp_path,
        {
            "name": "p",
            "output_dir": str(tmp_path / "out"),
            "report_to": "none",
            "stages": [{"name": "sft", "kind": "sft", "set": {"data": str(source), "lora_rank": 8}}],
        },
    )
    with pytest.raises(PipelineError, match=r"stage 'sft'.*unknown field 'lora_rank' \(did you mean 'lora_r'\?\)"):
        run_pipeline(load_pipeline(path))
    state = json.loads((tmp_path / "out" / "p" / "pipeline.json").read_text())
    assert state["stages"]["sft"]["status"] == "failed" and "lora_rank" in state["stages"]["sft"]["error"]


def test_the_shipped_pipeline_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its stage order, references and trainer configs, in a copy of the project whose outside
    inputs (the shared data folder) are stand-in files: only their existence is checked here."""
    import shutil

    from harness.paths import PROJECT_DIR

    shipped = PROJECT_DIR / "trainers" / "configs" / "pipeline.yaml"
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "trainers" / "configs", project / "trainers" / "configs")
    inputs = [stage["input"] for stage in yaml.safe_load(shipped.read_text())["stages"] if "input" in stage]
    for name in inputs:
        if not name.startswith("@"):
            path = project / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    monkeypatch.chdir(project)  # its paths are relative to the project
    config = load_pipeline(Path("trainers/configs/pipeline.yaml"))
    kinds = [stage.kind for stage in config.stages]
    assert kinds.index("sft") < kinds.index("dpo") < kinds.index("reward") < kinds.index("rl")
    assert any(name.startswith("../shared/data/") for name in inputs)


def test_rl_on_a_rejected_reward_model_is_allowed_only_after_continue_on_reject(tmp_path: Path) -> None:
    """With continue_on_reject a later RL stage uses a rejected reward model (marked so by the
    trainer's record); a stage that reads only accepted models gets no such permission."""
    from rich.console import Console

    from harness.train._pipeline import _Runner

    stages = [
        {"name": name, "kind": "reward", "set": {"data": "x.jsonl", "objective": objective}}
        for name, objective in (("helpful", "helpfulness"), ("safety", "safety"))
    ] + [{"name": "rl", "kind": "rl", "set": {"data": "x.jsonl", "reward_model": "@helpful", "cost_model": "@safety"}}]
    path = _write(
        tmp_path,
        {
            "name": "p",
            "output_dir": str(tmp_path / "out"),
            "report_to": "none",
            "continue_on_reject": True,
            "stages": stages,
        },
    )
    config = load_pipeline(path)
    runner = _Runner(config, Console(file=None, quiet=True), ())
    rl = config.stages[-1]
    for stage in config.stages[:2]:
        runner.outputs[stage.name] = tmp_path / "out" / stage.name
    runner.after(config.stages[1], "accepted", None)
    assert "allow_rejected_reward_model" not in runner.trainer_settings(rl)[0]
    runner.after(config.stages[0], "rejected", None)
    settings = runner.trainer_settings(rl)[0]
    assert settings["allow_rejected_reward_model"] is True
    assert settings["reward_model"] == str(tmp_path / "out" / "helpful")
