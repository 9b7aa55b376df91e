"""Experiment tracking for the trainers: MLflow by default, Weights & Biases on request, or none.

MLflow writes to a local SQLite store under ``reports/mlflow/`` (``mlflow.db``, artifacts beside
it) unless ``tracking_uri`` names another. One MLflow run per training run: the trainer's config
as params, the per-step loss through transformers' MLflow callback, then the evaluation's
metrics, the gate's verdict and reasons as tags, and the adapter, its training record, its gate
record and the curation report as artifacts. See them with
``mlflow ui --backend-store-uri sqlite:///reports/mlflow/mlflow.db`` (the ``mlflow`` package).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.train._config import TrainConfigError

TRACKERS: tuple[str, ...] = ("mlflow", "wandb", "none")
DEFAULT_EXPERIMENT = "mindgate"


def default_tracking_dir() -> Path:
    from harness.paths import REPORTS_DIR

    return REPORTS_DIR / "mlflow"


class Tracker:
    """The trainers' side of one tracked run (no-op for ``none``)."""

    def __init__(self, kind: str, run: Any = None) -> None:
        self.kind = kind
        self.run = run

    @property
    def report_to(self) -> list[str]:
        return [] if self.kind == "none" else [self.kind]

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else str(self.run.info.run_id)

    def log_outcome(self, adapter_dir: Path, curation_dir: Path | None) -> None:
        """Evaluation metrics, the gate's verdict and the artifacts, after the gate."""
        if self.kind != "mlflow":
            return
        import mlflow

        gate_path = adapter_dir / "gate.json"
        if gate_path.is_file():
            gate = json.loads(gate_path.read_text(encoding="utf-8"))
            mlflow.set_tags(
                {
                    "gate.verdict": gate.get("verdict", ""),
                    "gate.accepted": str(gate.get("accepted")),
                    "gate.reasons": "; ".join(gate.get("reasons") or [])[:4900],
                    "gate.failed_rules": "; ".join(gate.get("failed_rules") or [])[:4900],
                    "gate.run_id": gate.get("run_id", ""),
                    "gate.baseline_run_id": gate.get("baseline_run_id", ""),
                }
            )
            metrics = _run_metrics(gate.get("run_id"))
            if metrics:
                mlflow.log_metrics(metrics)
        for name in ("training.json", "gate.json"):
            if (adapter_dir / name).is_file():
                mlflow.log_artifact(str(adapter_dir / name), artifact_path="records")
        mlflow.log_artifacts(str(adapter_dir), artifact_path="adapter")
        if curation_dir is not None:
            for name in ("curation.md", "curation.json"):
                if (curation_dir / name).is_file():
                    mlflow.log_artifact(str(curation_dir / name), artifact_path="curation")


def _run_metrics(run_id: str | None) -> dict[str, float]:
    """``eval.<task>.<metric>`` for every numeric metric of the gated run."""
    if not run_id:
        return {}
    from harness.paths import runs_dir

    record_path = runs_dir() / run_id / "run.json"
    if not record_path.is_file():
        return {}
    record = json.loads(record_path.read_text(encoding="utf-8"))
    out: dict[str, float] = {}
    for task, metrics in (record.get("metrics") or {}).items():
        for name, value in metrics.items():
            number = value.get("value") if isinstance(value, dict) else value
            if isinstance(number, int | float) and number == number:  # not NaN
                out[f"eval.{task}.{name}".replace(",", "_")] = float(number)
    return out


@contextmanager
def tracking(kind: str, uri: str | None, experiment: str, run_name: str, params: dict[str, Any]) -> Iterator[Tracker]:
    """Open the tracked run around training and the gate; it is closed (FAILED on an error) after."""
    if kind not in TRACKERS:
        raise TrainConfigError(f"report_to {kind!r}: choose one of {', '.join(TRACKERS)}")
    if kind == "none":
        yield Tracker("none")
        return
    if kind == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError as error:
            raise TrainConfigError(
                "report_to: wandb needs the wandb package (pip install wandb; it runs offline with WANDB_MODE=offline)"
            ) from error
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_PROJECT", experiment)
        yield Tracker("wandb")
        return
    import mlflow

    if uri is None:
        root = default_tracking_dir()
        root.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{root / 'mlflow.db'}"
    # Artifacts beside a SQLite store (MLflow's default is ./mlruns in whatever directory the
    # command runs in); a tracking server keeps its own.
    artifacts = (
        (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri() if uri.startswith("sqlite:///") else None
    )
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a user's file:// store keeps working
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)
    # transformers' MLflow callback logs into the active run and leaves it open for us.
    os.environ["MLFLOW_EXPERIMENT_NAME"] = experiment
    os.environ["MLFLOW_TRACKING_URI"] = uri
    # Inside a pipeline's run, a stage's run is nested under it.
    with mlflow.start_run(run_name=run_name, nested=mlflow.active_run() is not None) as run:
        # Prefixed: transformers' callback logs its own TrainingArguments, and a parameter may be
        # logged once only.
        mlflow.log_params({f"mindgate.{key}": _param(value) for key, value in params.items()})
        yield Tracker("mlflow", run)


def _param(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text[:500]
