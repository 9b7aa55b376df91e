"""``mindgate pipeline``: curate -> SFT -> DPO -> reward/cost models -> RL, one stage after another,
each gated against the previous accepted stage.

A pipeline file (``trainers/configs/pipeline.yaml``) lists stages. A trainer stage names its
trainer's YAML (``config``) and overrides fields (``set``); ``"@stage"`` in a value stands for that
earlier stage's output (a curated.jsonl, an adapter or a reward model). A policy stage (sft, dpo,
rl) continues from the previous policy stage's adapter and is gated against that adapter's
evaluation (the first against ``gate_baseline``). Everything is written under
``<output_dir>/<name>/``: ``pipeline.json`` (the state of every stage), ``curated/<stage>/`` and
``adapters/<stage>/``.

A rejected stage stops the pipeline with the gate's reasons (exit 1) unless ``continue_on_reject``;
with it, later stages build on what was rejected (a policy on the rejected adapter, RL on a rejected
reward or cost model), each marked as such in its record, and the exit code stays 1.
A rerun skips every stage whose fingerprint (its kind, its resolved config, and the hashes of its
data and of the stages it reads) matches a finished, accepted run, and resumes an interrupted
stage from its last checkpoint (or gates an adapter that was saved but not yet gated). With
MLflow, the pipeline is one parent run and each stage a nested run under it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from harness.train._config import TrainConfigError, load_config

STATE_FILE = "pipeline.json"
STATE_SCHEMA = 1
POLICY_KINDS = ("sft", "dpo", "rl")
TRAINER_KINDS = (*POLICY_KINDS, "reward")
STAGE_KINDS = ("pairs", "curate", *TRAINER_KINDS)
DATA_KINDS = ("pairs", "curate")
# Fields a pipeline decides for each trainer stage (a stage's `set` may not give them).
_OWNED = ("name", "output_dir", "overwrite", "report_to", "tracking_uri", "experiment")
# Fields that do not change what a stage produces, left out of its fingerprint.
_NOT_FINGERPRINTED = (*_OWNED, "logging_steps", "save_steps", "eval_batch_size", "score_batch_size")
_TOP_KEYS = {
    "name": "pipeline name: its folder <output_dir>/<name> and the MLflow parent run's name",
    "output_dir": "where the pipeline's folder is written (default: reports/pipelines)",
    "gate_baseline": "the run or baseline the first policy stage is gated against (default: smollm2-135m-suite-v4)",
    "continue_on_reject": "go on after a rejected stage, continuing from the rejected adapter (default: false)",
    "report_to": "experiment tracking for every stage: mlflow (default), wandb or none",
    "tracking_uri": "MLflow tracking URI (default: sqlite:///reports/mlflow/mlflow.db)",
    "experiment": "MLflow experiment (default: mindgate)",
    "stages": "the stages, in order",
}
_STAGE_KEYS = {
    "name": "stage name (a plain directory name, unique)",
    "kind": f"one of {', '.join(STAGE_KINDS)}",
    "config": "trainer stages: the trainer's YAML file (optional; `set` alone works too)",
    "set": "fields that override the trainer's YAML (or, for curate, the curation options)",
    "input": "pairs: the source's file or folder; curate: the .jsonl/.csv/.tsv file to curate (or '@stage')",
}
_CURATE_SPEC = ("kind", "prompt", "response", "chosen", "rejected", "messages", "id")


class PipelineError(TrainConfigError):
    """A pipeline file that cannot be run (the message names the file, the stage and the field)."""


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    config: Path | None = None
    set: dict[str, Any] = field(default_factory=dict)
    input: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    stages: tuple[Stage, ...]
    source: Path
    output_dir: Path = Path("reports/pipelines")
    gate_baseline: str = "smollm2-135m-suite-v4"
    continue_on_reject: bool = False
    report_to: str = "mlflow"
    tracking_uri: str | None = None
    experiment: str = "mindgate"

    @property
    def root(self) -> Path:
        return self.output_dir / self.name


@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: str  # accepted | rejected | trained (not gated) | curated | skipped-<status>
    output: Path
    reasons: list[str]


@dataclass(frozen=True)
class PipelineResult:
    exit_code: int  # 0 every stage passed, 1 a stage was rejected (stopped unless continue_on_reject)
    outcomes: list[StageOutcome]
    state_path: Path


def _plain_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "/" not in value and not value.startswith(".")


def load_pipeline(path: Path) -> PipelineConfig:
    """Read and check a pipeline file: unknown keys, unknown kinds, references to later or unknown
    stages, and missing trainer YAMLs are refused before anything runs."""
    if not path.is_file():
        raise PipelineError(f"{path}: no such pipeline file")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(loaded, dict):
        raise PipelineError(f"{path}: expected a mapping with 'name' and 'stages' at the top level")
    unknown = sorted(set(loaded) - set(_TOP_KEYS))
    if unknown:
        raise PipelineError(f"{path}: unknown key {unknown[0]!r}; keys: {', '.join(_TOP_KEYS)}")
    name = loaded.get("name")
    if not _plain_name(name):
        raise PipelineError(f"{path}: 'name' must be a plain directory name, got {name!r}")
    raw_stages = loaded.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise PipelineError(f"{path}: 'stages' must be a non-empty list of stages")
    stages: list[Stage] = []
    for number, raw in enumerate(raw_stages, start=1):
        where = f"{path}, stage {number}"
        if not isinstance(raw, dict):
            raise PipelineError(f"{where}: expected a mapping with 'name' and 'kind'")
        unknown = sorted(set(raw) - set(_STAGE_KEYS))
        if unknown:
            raise PipelineError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(_STAGE_KEYS)}")
        stage_name = raw.get("name")
        if not _plain_name(stage_name):
            raise PipelineError(f"{where}: 'name' must be a plain directory name, got {stage_name!r}")
        where = f"{path}, stage {stage_name!r}"
        if any(s.name == stage_name for s in stages):
            raise PipelineError(f"{where}: a second stage of that name; stage names must be unique")
        kind = raw.get("kind")
        if kind not in STAGE_KINDS:
            raise PipelineError(f"{where}: kind {kind!r}; choose one of {', '.join(STAGE_KINDS)}")
        overrides = raw.get("set") or {}
        if not isinstance(overrides, dict):
            raise PipelineError(f"{where}: 'set' must be a mapping of field: value")
        owned = sorted(set(overrides) & set(_OWNED))
        if owned and kind != "curate":
            raise PipelineError(f"{where}: 'set' may not give {owned[0]!r}: the pipeline decides it")
        config = raw.get("config")
        if config is not None:
            if kind in DATA_KINDS:
                raise PipelineError(f"{where}: a {kind} stage takes 'input' and 'set', not 'config'")
            if not Path(config).is_file():
                raise PipelineError(
                    f"{where}: config {config!r} is not a file (paths are relative to the current directory)"
                )
        source = raw.get("input")
        if kind in DATA_KINDS:
            reference = str(source).startswith("@")
            if reference and not any(s.name == str(source)[1:] for s in stages):
                raise PipelineError(f"{where}: input {source!r} is not an earlier stage")
            if not reference and (not source or not Path(source).exists()):
                raise PipelineError(f"{where}: 'input' must name an existing file (or '@stage'), got {source!r}")
        elif source is not None:
            raise PipelineError(
                f"{where}: only pairs and curate stages take 'input'; give data with set: {{data: ...}}"
            )
        for key, value in overrides.items():
            for ref in _references(value):
                if not any(s.name == ref for s in stages):
                    raise PipelineError(
                        f"{where}: field {key!r} refers to {'@' + ref!r}, which is not an earlier stage"
                    )
        stages.append(
            Stage(
                name=str(stage_name),
                kind=kind,
                config=Path(config) if config else None,
                set=dict(overrides),
                input=str(source) if source else None,
            )
        )
    for key, kind in (("continue_on_reject", bool), ("gate_baseline", str), ("report_to", str), ("experiment", str)):
        if key in loaded and not isinstance(loaded[key], kind):
            raise PipelineError(f"{path}: {key!r} must be {'true or false' if kind is bool else 'text'}")
    if loaded.get("report_to", "mlflow") not in ("mlflow", "wandb", "none"):
        raise PipelineError(f"{path}: report_to {loaded['report_to']!r}: choose mlflow, wandb or none")
    return PipelineConfig(
        name=str(name),
        stages=tuple(stages),
        source=path,
        output_dir=Path(loaded.get("output_dir") or "reports/pipelines"),
        gate_baseline=loaded.get("gate_baseline", "smollm2-135m-suite-v4"),
        continue_on_reject=bool(loaded.get("continue_on_reject", False)),
        report_to=loaded.get("report_to", "mlflow"),
        tracking_uri=loaded.get("tracking_uri"),
        experiment=loaded.get("experiment", "mindgate"),
    )


def _references(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("@"):
        return [value[1:]]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def _substitute(value: Any, outputs: dict[str, Path]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return str(outputs[value[1:]])
    if isinstance(value, list):
        return [_substitute(item, outputs) for item in value]
    return value


def _trainer(kind: str) -> tuple[type, Callable[..., Any]]:
    from harness.train import (
        DPOTrainConfig,
        RewardTrainConfig,
        RLTrainConfig,
        SFTTrainConfig,
        train_dpo,
        train_reward,
        train_rl,
        train_sft,
    )

    trainers: dict[str, tuple[type, Callable[..., Any]]] = {
        "sft": (SFTTrainConfig, train_sft),
        "dpo": (DPOTrainConfig, train_dpo),
        "reward": (RewardTrainConfig, train_reward),
        "rl": (RLTrainConfig, train_rl),
    }
    return trainers[kind]


def path_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (names and contents; checkpoints left out)."""
    from harness.models._hashing import sha256_file

    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file() and "checkpoint" not in p.as_posix()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0" + sha256_file(item).encode() + b"\n")
    return digest.hexdigest()


def fingerprint(kind: str, settings: dict[str, Any], upstream: dict[str, str]) -> str:
    """What a stage produces depends on: its kind, its settings (paths replaced by what they hold:
    an earlier stage's fingerprint, or the hash of a file or folder), nothing else."""

    def content(value: Any) -> Any:
        if isinstance(value, list):
            return [content(item) for item in value]
        if isinstance(value, str) and value in upstream:
            return {"stage": upstream[value]}
        if isinstance(value, str) and value and ("/" in value or "." in value) and Path(value).exists():
            return {"sha256": path_digest(Path(value))}
        return value

    kept = {key: content(value) for key, value in sorted(settings.items()) if key not in _NOT_FINGERPRINTED}
    text = json.dumps({"kind": kind, "settings": kept}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class PipelineState:
    """``pipeline.json``: each stage's fingerprint, status, output, verdict and times; rewritten
    atomically after every change so a kill never leaves it half written."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {"schema_version": STATE_SCHEMA, "pipeline": name, "stages": {}}
        if path.is_file():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as error:
                raise PipelineError(
                    f"{path}: unreadable pipeline state ({error}); delete it to run every stage again"
                ) from error

    def stage(self, name: str) -> dict[str, Any]:
        return dict(self.data["stages"].get(name) or {})

    def update(self, name: str, **values: Any) -> None:
        self.data["stages"][name] = {**self.data["stages"].get(name, {}), **values}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(partial, self.path)


@contextmanager
def _parent_run(config: PipelineConfig) -> Iterator[Any]:
    from harness.train._tracking import tracking

    params = {"pipeline": config.name, "stages": [f"{s.name}:{s.kind}" for s in config.stages]}
    with tracking(config.report_to, config.tracking_uri, config.experiment, f"pipeline:{config.name}", params) as run:
        yield run


def _verdict(adapter_dir: Path) -> tuple[str, list[str], str | None]:
    """(status, reasons, evaluation run id) from an adapter's gate.json."""
    path = adapter_dir / "gate.json"
    if not path.is_file():
        return "trained", ["not gated (gate: false)"], None
    verdict = json.loads(path.read_text(encoding="utf-8"))
    reasons = list(verdict.get("failed_rules") or []) or list(verdict.get("reasons") or [])
    return ("accepted" if verdict.get("accepted") else "rejected"), reasons, verdict.get("run_id")


class _Runner:
    def __init__(self, config: PipelineConfig, console: Console, rerun: tuple[str, ...]) -> None:
        self.config = config
        self.console = console
        self.rerun = set(rerun)
        self.state = PipelineState(config.root / STATE_FILE, config.name)
        self.outputs: dict[str, Path] = {}
        self.fingerprints: dict[str, str] = {}
        self.policy: str | None = None  # the last policy stage: the next one continues from it
        self.policy_rejected = False
        self.accepted_run: str | None = None  # evaluation of the last accepted policy stage: the next gate's baseline
        self.rejected: set[str] = set()  # stages rejected so far (only reached by later ones with continue_on_reject)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def run(self) -> PipelineResult:
        unknown = sorted(self.rerun - {s.name for s in self.config.stages})
        if unknown:
            raise PipelineError(f"--rerun {unknown[0]!r}: no such stage in {self.config.source}")
        outcomes: list[StageOutcome] = []
        code = 0
        with _parent_run(self.config) as parent:
            for number, stage in enumerate(self.config.stages, start=1):
                self.say(f"[{number}/{len(self.config.stages)}] stage {stage.name} ({stage.kind})")
                outcome = self.run_stage(stage)
                outcomes.append(outcome)
                self.say(f"    {stage.name}: {outcome.status} -> {outcome.output}")
                for reason in outcome.reasons[:8]:
                    self.say(f"      {reason}")
                if outcome.status.endswith("rejected"):
                    code = 1
                    if not self.config.continue_on_reject:
                        self.say(f"pipeline stopped: stage {stage.name} was rejected (continue_on_reject: false)")
                        break
            self.finish_parent(parent, outcomes, code)
        return PipelineResult(code, outcomes, self.state.path)

    def finish_parent(self, parent: Any, outcomes: list[StageOutcome], code: int) -> None:
        if parent.kind != "mlflow":
            return
        import mlflow

        mlflow.set_tags(
            {
                "pipeline.exit_code": str(code),
                **{f"pipeline.stage.{o.name}": o.status for o in outcomes},
            }
        )
        mlflow.log_artifact(str(self.state.path), artifact_path="pipeline")
        mlflow.log_artifact(str(self.config.source), artifact_path="pipeline")

    # -- one stage ---------------------------------------------------------------------------

    def run_stage(self, stage: Stage) -> StageOutcome:
        if stage.kind == "pairs":
            settings, output = self.pairs_settings(stage)
        elif stage.kind == "curate":
            settings, output = self.curate_settings(stage)
        else:
            settings, output = self.trainer_settings(stage)
        upstream = {str(path): self.fingerprints[name] for name, path in self.outputs.items()}
        print_ = fingerprint(stage.kind, settings, upstream)
        self.fingerprints[stage.name] = print_
        self.outputs[stage.name] = output
        before = self.state.stage(stage.name)
        same = before.get("fingerprint") == print_ and stage.name not in self.rerun
        status = before.get("status")
        if (
            same
            and status in ("accepted", "trained", "built", "curated", "rejected")
            and self.output_intact(output, before)
        ):
            outcome = StageOutcome(stage.name, f"skipped-{status}", output, list(before.get("reasons") or []))
            self.after(stage, status, before.get("eval_run_id"))
            return outcome
        if not same:  # another config or other data: nothing of an earlier attempt may be reused
            shutil.rmtree(output.with_name(f"{output.name}.checkpoints"), ignore_errors=True)
        self.state.update(
            stage.name,
            kind=stage.kind,
            fingerprint=print_,
            status="running",
            output=self.shown(output),
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            attempts=int(before.get("attempts", 0) if same else 0) + 1,
        )
        try:
            if stage.kind == "pairs":
                status, reasons, run_id = self.pairs(stage, settings, output)
            elif stage.kind == "curate":
                status, reasons, run_id = self.curate(stage, settings, output)
            else:
                status, reasons, run_id = self.train(stage, settings, output, resume=same)
        except BaseException as error:
            self.state.update(stage.name, status="failed", error=f"{type(error).__name__}: {error}"[:2000])
            raise
        self.state.update(
            stage.name,
            status=status,
            reasons=reasons,
            eval_run_id=run_id,
            output_sha256=path_digest(output),
            finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            error=None,
        )
        self.after(stage, status, run_id)
        return StageOutcome(stage.name, status, output, reasons)

    def output_intact(self, output: Path, before: dict[str, Any]) -> bool:
        return output.exists() and before.get("output_sha256") == path_digest(output)

    def after(self, stage: Stage, status: str, run_id: str | None) -> None:
        if status == "rejected":
            self.rejected.add(stage.name)
        if stage.kind in POLICY_KINDS:
            self.policy = stage.name
            self.policy_rejected = status == "rejected"
            if status == "accepted" and run_id:
                self.accepted_run = run_id

    def shown(self, path: Path) -> str:
        from harness.paths import PROJECT_DIR

        resolved = path.resolve()
        return resolved.relative_to(PROJECT_DIR).as_posix() if resolved.is_relative_to(PROJECT_DIR) else path.as_posix()

    # -- pairs and curate --------------------------------------------------------------------

    def pairs_settings(self, stage: Stage) -> tuple[dict[str, Any], Path]:
        from harness.pairs import SOURCES

        unknown = sorted(set(stage.set) - {"source", "split"})
        if unknown or stage.set.get("source") not in SOURCES:
            raise PipelineError(
                f"{self.config.source}, stage {stage.name!r}: a pairs stage takes set: {{source: "
                f"{'|'.join(SOURCES)}, split: ...}}; got {stage.set}"
            )
        settings = {"input": _substitute(str(stage.input), self.outputs), **stage.set}
        return settings, self.config.root / "pairs" / f"{stage.name}.jsonl"

    def pairs(self, stage: Stage, settings: dict[str, Any], output: Path) -> tuple[str, list[str], None]:
        from harness.errors import DataFormatError
        from harness.pairs import build_pairs, write_pairs

        built = build_pairs(settings["source"], Path(settings["input"]), settings.get("split"))
        if not built:
            raise DataFormatError(f"{settings['input']}: no preference pairs found for source {settings['source']}")
        output.parent.mkdir(parents=True, exist_ok=True)
        write_pairs(built, output)
        return "built", [f"{len(built)} pairs"], None

    def curate_settings(self, stage: Stage) -> tuple[dict[str, Any], Path]:
        from harness.curate.pipeline import CurationConfig

        known = {f.name for f in dataclasses.fields(CurationConfig)} | set(_CURATE_SPEC) | {"where"}
        unknown = sorted(set(stage.set) - known)
        if unknown:
            raise PipelineError(
                f"{self.config.source}, stage {stage.name!r}: unknown curation option {unknown[0]!r}; options: "
                f"{', '.join(sorted(known))}"
            )
        settings = {"input": _substitute(str(stage.input), self.outputs), **stage.set}
        return settings, self.config.root / "curated" / stage.name / "curated.jsonl"

    def curate(self, stage: Stage, settings: dict[str, Any], output: Path) -> tuple[str, list[str], None]:
        from harness.curate.pipeline import CurationConfig, curate
        from harness.curate.records import ColumnSpec

        where = settings.get("where") or {}
        if isinstance(where, list):
            where = dict(str(item).partition("=")[::2] for item in where)
        spec = ColumnSpec(**{key: settings[key] for key in _CURATE_SPEC if key in settings})
        options = {key: value for key, value in settings.items() if key not in (*_CURATE_SPEC, "where", "input")}
        try:
            curation = CurationConfig(**options)
        except TypeError as error:
            raise PipelineError(f"{self.config.source}, stage {stage.name!r}: {error}") from error
        with self.nested(f"curate:{stage.name}", settings) as tracker:
            result = curate(
                Path(settings["input"]), spec, output.parent, curation, console=self.console, force=True, where=where
            )
            if tracker.kind == "mlflow":
                import mlflow

                for name in ("curation.json", "curation.md"):
                    mlflow.log_artifact(str(output.parent / name), artifact_path="curation")
                mlflow.log_metrics({"rows_in": result.rows_in, "rows_kept": result.rows_kept})
        return "curated", [f"kept {result.rows_kept} of {result.rows_in} rows"], None

    @contextmanager
    def nested(self, run_name: str, params: dict[str, Any]) -> Iterator[Any]:
        from harness.train._tracking import tracking

        config = self.config
        with tracking(config.report_to, config.tracking_uri, config.experiment, run_name, params) as tracker:
            yield tracker

    # -- trainers ----------------------------------------------------------------------------

    def trainer_settings(self, stage: Stage) -> tuple[dict[str, Any], Path]:
        values: dict[str, Any] = {}
        if stage.config is not None:
            try:
                loaded = yaml.safe_load(stage.config.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as error:
                raise PipelineError(f"{stage.config}: not valid YAML ({error})") from error
            if not isinstance(loaded, dict):
                raise PipelineError(f"{stage.config}: expected a mapping of field: value at the top level")
            values.update(loaded)
        values.update({key: _substitute(value, self.outputs) for key, value in stage.set.items()})
        adapters = self.config.root / "adapters"
        values.update(
            name=stage.name,
            output_dir=str(adapters),
            overwrite=True,
            report_to=self.config.report_to,
            experiment=self.config.experiment,
        )
        if self.config.tracking_uri:
            values["tracking_uri"] = self.config.tracking_uri
        if stage.kind in POLICY_KINDS and "parent_adapter" not in stage.set:
            values["parent_adapter"] = str(self.outputs[self.policy]) if self.policy else None
            if self.policy and self.policy_rejected:
                values["allow_rejected_parent"] = True  # only reached with continue_on_reject
        if stage.kind == "rl" and any(
            stage.set.get(key) in {f"@{name}" for name in self.rejected} for key in ("reward_model", "cost_model")
        ):
            values["allow_rejected_reward_model"] = True  # only reached with continue_on_reject
        if stage.kind in POLICY_KINDS and "gate_baseline" not in stage.set:
            # gated against the evaluation of the previous accepted stage (the first against the baseline)
            values["gate_baseline"] = self.accepted_run or self.config.gate_baseline
        return values, adapters / stage.name

    def train(
        self, stage: Stage, settings: dict[str, Any], output: Path, resume: bool
    ) -> tuple[str, list[str], str | None]:
        from harness.train._common import gate_adapter

        cls, train = _trainer(stage.kind)
        try:
            config: Any = load_config(cls, None, settings)
        except TrainConfigError as error:
            where = f"{self.config.source}, stage {stage.name!r}"
            raise PipelineError(f"{where}{f' ({stage.config})' if stage.config else ''}: {error}") from error
        record = output / "training.json"
        if (
            resume
            and record.is_file()
            and not (output / "gate.json").is_file()
            and config.gate
            and stage.kind != "reward"
        ):
            self.say(f"    {stage.name}: the adapter was saved but not gated; gating it")
            gate_adapter(output, config, self.console)
        else:
            train(config, self.console)
        return _verdict(output)


def run_pipeline(config: PipelineConfig, console: Console | None = None, rerun: tuple[str, ...] = ()) -> PipelineResult:
    """Run every stage in order (skipping finished ones); see the module's docstring."""
    return _Runner(config, console or Console(stderr=True), rerun).run()


def describe(result: PipelineResult) -> str:
    lines = [f"{o.name}: {o.status} ({o.output})" for o in result.outcomes]
    return "\n".join(lines)
