"""compare_runs on small run directories written the way ``mindgate eval`` writes them."""

import hashlib
import io
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from scipy.stats import binomtest

from harness.compare import (
    RECORD_UNITS,
    UNPAIRABLE_RECORD_METRICS,
    IncomparableRunsError,
    compare_runs,
    holm_adjust,
    print_comparison,
    unit_values,
)
from harness.errors import MindgateError
from harness.metrics import RECORD_METRICS, UNIT_METRICS, record_metric
from harness.run import _record
from harness.store import RunRecordError


def sample_row(item_id: str, scores: Mapping[str, Any], doc: Mapping[str, Any] | None = None) -> dict[str, Any]:
    full_doc = {"id": item_id, "text": f"question {item_id}", **(doc or {})}
    return {
        "doc_id": 0,
        "doc": full_doc,
        "doc_hash": hashlib.sha256(json.dumps(full_doc, sort_keys=True).encode()).hexdigest(),
        "metrics": list(scores),
        **scores,
    }


def write_run(
    root: Path,
    run_id: str,
    samples: Mapping[str, Sequence[dict[str, Any]]],
    version: float = 1.0,
    config: Mapping[str, Any] | None = None,
) -> Path:
    """A run directory with the real writer and the real per-task summary."""
    rows = {
        task: [{**row, "doc_id": index} for index, row in enumerate(task_rows)] for task, task_rows in samples.items()
    }
    record = {
        "schema_version": _record.SCHEMA_VERSION,
        "run_id": run_id,
        "status": "completed",
        "started_at_unix": 1_790_000_000.0,
        "wall_time_s": 1.0,
        "backend": "hf",
        "model": {"name": "tiny", "content_hash": "ab" * 32},
        "adapter": None,
        "tasks": {
            task: {
                "version": version,
                "n_evaluated": len(task_rows),
                "items_hash": _record.items_hash(task_rows),
                "config_hash": _record.config_hash(config or {"task": task}),
            }
            for task, task_rows in rows.items()
        },
        "metrics": _record.leaf_metrics(rows, seed=0),
        "group_metrics": {},
    }
    return _record.write_run(root, run_id, record, rows)


def accuracy_rows(correct: Sequence[int], n: int) -> list[dict[str, Any]]:
    return [sample_row(f"q{i}", {"acc": float(i in correct)}) for i in range(n)]


def test_binary_metric_is_paired_by_item_and_tested_with_exact_mcnemar(tmp_path: Path) -> None:
    run_a = write_run(tmp_path, "a", {"quiz": accuracy_rows(range(0, 20), 40)})
    # B: right on 3..29, i.e. loses items 0-2 and gains 20-29; rows written in another order.
    shuffled = accuracy_rows(range(3, 30), 40)
    random.Random(0).shuffle(shuffled)
    run_b = write_run(tmp_path, "b", {"quiz": shuffled})
    comparison = compare_runs(run_a, run_b)
    acc = comparison.get("quiz", "acc")
    assert (acc.n, acc.kind, acc.test) == (40, "binary", "exact McNemar")
    assert (acc.mean_a, acc.mean_b) == (0.5, 27 / 40)
    assert acc.difference == pytest.approx(7 / 40)
    assert (acc.a_only, acc.b_only) == (3, 10)
    assert acc.p_value == pytest.approx(binomtest(10, 13).pvalue)
    assert acc.ci_low < acc.difference < acc.ci_high
    assert comparison.run_a == "a" and comparison.run_b == "b"


def test_continuous_metric_uses_the_permutation_test_and_reports_wilcoxon(tmp_path: Path) -> None:
    scores_a = [0.1 * (i % 10) for i in range(30)]
    run_a = write_run(tmp_path, "a", {"chat": [sample_row(f"c{i}", {"warmth": s}) for i, s in enumerate(scores_a)]})
    run_b = write_run(
        tmp_path, "b", {"chat": [sample_row(f"c{i}", {"warmth": s + 0.05}) for i, s in enumerate(scores_a)]}
    )
    warmth = compare_runs(run_a, run_b).get("chat", "warmth")
    assert (warmth.kind, warmth.test) == ("continuous", "paired permutation")
    assert warmth.difference == pytest.approx(0.05)
    assert warmth.p_value < 0.001 and warmth.wilcoxon_p is not None and warmth.wilcoxon_p < 0.001
    assert warmth.a_only is None


def test_items_outside_a_metrics_denominator_are_not_paired(tmp_path: Path) -> None:
    def rows(referred: Sequence[int]) -> list[dict[str, Any]]:
        return [
            sample_row(f"m{i}", {"safe": 1.0, "referral_high": (float(i in referred) if i % 2 else None)})
            for i in range(12)
        ]

    comparison = compare_runs(
        write_run(tmp_path, "a", {"crisis": rows([1])}), write_run(tmp_path, "b", {"crisis": rows([1, 3])})
    )
    referral = comparison.get("crisis", "referral_high")
    assert referral.n == 6  # only the odd (high-tier) items
    assert referral.difference == pytest.approx(1 / 6)


def meets_record(item_id: str, gold: bool, predicted: bool, pair: str, group: str) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "meets_criteria": gold,
        "predicted_meets": predicted,
        "pair_ids": [pair],
        "invariance_group": group,
    }


def dsm5_rows(predictions: Sequence[bool]) -> list[dict[str, Any]]:
    """Four minimal pairs (positive 2k, negative 2k+1); invariance groups of two consecutive pairs."""
    rows = []
    for index, predicted in enumerate(predictions):
        gold = index % 2 == 0
        record = meets_record(f"v{index}", gold, predicted, pair=f"p{index // 2}", group=f"g{index // 4}")
        scores = {"acc": float(predicted == gold), "sensitivity": record, "ppv": record, "pair_consistency": record}
        scores["invariance_meets"] = record
        rows.append(sample_row(f"v{index}", scores))
    return rows


PREDICTIONS_A = [True, False, True, True, False, False, True, False]
PREDICTIONS_B = [True, False, True, False, True, False, True, True]


def test_record_metrics_are_paired_through_their_units(tmp_path: Path) -> None:
    comparison = compare_runs(
        write_run(tmp_path, "a", {"meets": dsm5_rows(PREDICTIONS_A)}),
        write_run(tmp_path, "b", {"meets": dsm5_rows(PREDICTIONS_B)}),
    )
    sensitivity = comparison.get("meets", "sensitivity")
    assert (sensitivity.n, sensitivity.mean_a, sensitivity.mean_b) == (4, 0.75, 1.0)  # gold-positive items only
    pairs = comparison.get("meets", "pair_consistency")
    assert (pairs.n, pairs.mean_a, pairs.mean_b) == (4, 0.5, 0.75)
    assert comparison.get("meets", "invariance_meets").n == 2
    not_compared = {(left.task, left.metric): left.reason for left in comparison.not_compared}
    assert "differ between runs" in not_compared[("meets", "ppv")]


@pytest.mark.parametrize("metric", ["sensitivity", "pair_consistency", "invariance_meets"])
def test_unit_means_equal_the_record_metric_the_run_reports(metric: str) -> None:
    rows = {row["doc"]["id"]: row for row in dsm5_rows(PREDICTIONS_B)}
    units = unit_values(metric, rows)
    assert isinstance(units, dict)
    reported = record_metric(metric)([row[metric] for row in rows.values()])
    assert sum(units.values()) / len(units) == pytest.approx(reported.value)
    assert len(units) == reported.n


def test_invariance_correct_units_average_to_the_reported_metric() -> None:
    labels = [("panic", "panic"), ("panic", "panic"), ("ptsd", "panic"), ("ptsd", "panic"), ("ocd", "ocd")]
    records = [
        {"item_id": f"d{i}", "invariance_group": f"g{i // 2}", "gold_label": gold, "predicted_label": predicted}
        for i, (gold, predicted) in enumerate(labels)
    ]  # g0 right twice, g1 the same wrong answer twice, g2 a lone member (not a group)
    rows = {record["item_id"]: {"invariance_correct": record} for record in records}
    units = unit_values("invariance_correct", rows)
    assert units == {"group:g0": 1.0, "group:g1": 0.0}
    reported = record_metric("invariance_correct")(records)
    assert (reported.value, reported.n) == (0.5, 2)


def test_every_record_metric_is_either_paired_or_explained() -> None:
    assert set(RECORD_METRICS) | set(UNIT_METRICS) == set(RECORD_UNITS) | set(UNPAIRABLE_RECORD_METRICS)


def test_holm_runs_across_tasks_and_metrics(tmp_path: Path) -> None:
    run_a = write_run(tmp_path, "a", {"t1": accuracy_rows(range(10), 60), "t2": accuracy_rows(range(30), 60)})
    run_b = write_run(tmp_path, "b", {"t1": accuracy_rows(range(25), 60), "t2": accuracy_rows(range(31), 60)})
    comparison = compare_runs(run_a, run_b)
    raw = [compared.p_value for compared in comparison.metrics]
    assert [compared.p_holm for compared in comparison.metrics] == holm_adjust(raw)
    assert comparison.get("t1", "acc").significant and not comparison.get("t2", "acc").significant


def test_small_n_gets_a_power_warning(tmp_path: Path) -> None:
    comparison = compare_runs(
        write_run(tmp_path, "a", {"quiz": accuracy_rows([0, 1], 5)}),
        write_run(tmp_path, "b", {"quiz": accuracy_rows([0], 5)}),
    )
    (warning,) = comparison.get("quiz", "acc").warnings
    assert warning.startswith("n=5 cannot detect a difference of 0.05 at 80% power")


def test_partly_overlapping_items_are_paired_on_the_common_ones_with_a_warning(tmp_path: Path) -> None:
    rows = accuracy_rows(range(10), 30)
    comparison = compare_runs(write_run(tmp_path, "a", {"quiz": rows[:10]}), write_run(tmp_path, "b", {"quiz": rows}))
    assert comparison.get("quiz", "acc").n == 10
    assert any("paired on the 10 items" in warning for warning in comparison.warnings)


def test_items_without_an_id_are_paired_by_document_hash(tmp_path: Path) -> None:
    rows = [{**row, "doc": {"text": row["doc"]["text"]}} for row in accuracy_rows(range(4), 8)]
    comparison = compare_runs(write_run(tmp_path, "a", {"quiz": rows}), write_run(tmp_path, "b", {"quiz": rows[::-1]}))
    assert comparison.get("quiz", "acc").n == 8
    assert comparison.get("quiz", "acc").difference == 0.0


def test_disjoint_item_sets_are_incomparable(tmp_path: Path) -> None:
    rows = accuracy_rows(range(5), 20)
    with pytest.raises(IncomparableRunsError, match="share no item"):
        compare_runs(write_run(tmp_path, "a", {"quiz": rows[:10]}), write_run(tmp_path, "b", {"quiz": rows[10:]}))


def test_same_id_with_different_content_is_incomparable(tmp_path: Path) -> None:
    edited = [
        sample_row(row["doc"]["id"], {"acc": row["acc"]}, doc={"text": "edited"}) for row in accuracy_rows([0], 4)
    ]
    with pytest.raises(IncomparableRunsError, match="different content"):
        compare_runs(
            write_run(tmp_path, "a", {"quiz": accuracy_rows([0], 4)}), write_run(tmp_path, "b", {"quiz": edited})
        )


@pytest.mark.parametrize(
    ("changes", "field"), [({"version": 2.0}, "version"), ({"config": {"num_fewshot": 5}}, "config_hash")]
)
def test_different_task_definitions_are_incomparable(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    rows = {"quiz": accuracy_rows([0], 4)}
    with pytest.raises(IncomparableRunsError, match=f"tasks.quiz.{field}") as raised:
        compare_runs(write_run(tmp_path, "a", rows), write_run(tmp_path, "b", rows, **changes))
    assert isinstance(raised.value, MindgateError) and raised.value.exit_code == 2


def test_tasks_in_one_run_only_are_listed_not_dropped(tmp_path: Path) -> None:
    run_a = write_run(tmp_path, "a", {"quiz": accuracy_rows([0], 4), "extra": accuracy_rows([0], 4)})
    comparison = compare_runs(run_a, write_run(tmp_path, "b", {"quiz": accuracy_rows([1], 4)}))
    assert [(left.task, left.metric, left.reason) for left in comparison.not_compared] == [
        ("extra", None, "only in run A (a)")
    ]
    with pytest.raises(IncomparableRunsError, match="share no task"):
        compare_runs(run_a, write_run(tmp_path, "c", {"other": accuracy_rows([1], 4)}))


def test_missing_run_directory_or_samples_file_is_a_clear_error(tmp_path: Path) -> None:
    run_a = write_run(tmp_path, "a", {"quiz": accuracy_rows([0], 4)})
    with pytest.raises(RunRecordError, match="no such run directory"):
        compare_runs(run_a, tmp_path / "nope")
    (run_a / "samples" / "quiz.jsonl").unlink()
    with pytest.raises(RunRecordError, match=r"quiz\.jsonl: missing"):
        compare_runs(run_a, run_a)


def test_comparison_is_reproducible_and_serialisable(tmp_path: Path) -> None:
    run_a = write_run(tmp_path, "a", {"quiz": accuracy_rows(range(0, 20), 40)})
    run_b = write_run(tmp_path, "b", {"quiz": accuracy_rows(range(5, 30), 40)})
    first = compare_runs(run_a, run_b, seed=4)
    assert first == compare_runs(run_a, run_b, seed=4)
    record = json.loads(json.dumps(first.as_record(), allow_nan=False))
    assert record["metrics"][0]["metric"] == "acc"


def test_rendered_comparison_shows_the_numbers(tmp_path: Path) -> None:
    comparison = compare_runs(
        write_run(tmp_path, "a", {"meets": dsm5_rows(PREDICTIONS_A)}),
        write_run(tmp_path, "b", {"meets": dsm5_rows(PREDICTIONS_B)}),
    )
    buffer = io.StringIO()
    print_comparison(Console(file=buffer, width=220, color_system=None), comparison)
    text = buffer.getvalue()
    sensitivity = comparison.get("meets", "sensitivity")
    for expected in ("sensitivity", "0.750", "1.000", "+0.250", f"{sensitivity.p_value:.3f}", "ppv", "not compared"):
        assert expected in text
    assert "n=4 cannot detect" in text


def test_a_run_stopped_by_the_gate_is_compared_only_as_a_partial_run(tmp_path: Path) -> None:
    full = write_run(tmp_path, "full", {"quiz": [sample_row(f"q{i}", {"acc": float(i % 2)}) for i in range(30)]})
    stopped = write_run(tmp_path, "stopped", {"quiz": [sample_row(f"q{i}", {"acc": 1.0}) for i in range(10)]})
    record = json.loads((stopped / "run.json").read_text())
    record |= {"status": "stopped_by_gate", "gate_stop": {"rule": "no-harm"}}
    (stopped / "run.json").write_text(json.dumps(record))
    comparison = compare_runs(full, stopped)
    (warning,) = [text for text in comparison.warnings if "NOT a full run" in text]
    assert warning.startswith("run B (stopped) is NOT a full run") and "no-harm" in warning
    assert comparison.get("quiz", "acc").n == 10
