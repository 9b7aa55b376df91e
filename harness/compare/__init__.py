"""Paired comparison of two runs: per task and metric, the difference on the items both scored,
its bootstrap CI, the test suited to the metric, Holm-adjusted p-values and power warnings."""

from harness.compare._compare import compare_runs, require_same_task_definition
from harness.compare._power import (
    TARGET_POWER,
    minimum_detectable_difference,
    paired_power,
    pairs_needed,
    planning_sd,
    underpowered_warning,
)
from harness.compare._render import comparison_table, leaderboard_table, not_compared_table, print_comparison
from harness.compare._stats import (
    McNemarResult,
    exact_mcnemar,
    exact_sign_test,
    holm_adjust,
    paired_bootstrap_ci,
    paired_differences,
    paired_permutation_test,
    wilcoxon_signed_rank,
)
from harness.compare._types import Comparison, IncomparableRunsError, MetricComparison, MetricKind, NotCompared
from harness.compare._units import RECORD_UNITS, UNPAIRABLE_RECORD_METRICS, Unpairable, unit_values

__all__ = [
    "RECORD_UNITS",
    "TARGET_POWER",
    "UNPAIRABLE_RECORD_METRICS",
    "Comparison",
    "IncomparableRunsError",
    "McNemarResult",
    "MetricComparison",
    "MetricKind",
    "NotCompared",
    "Unpairable",
    "compare_runs",
    "comparison_table",
    "exact_mcnemar",
    "exact_sign_test",
    "holm_adjust",
    "leaderboard_table",
    "minimum_detectable_difference",
    "not_compared_table",
    "paired_bootstrap_ci",
    "paired_differences",
    "paired_permutation_test",
    "paired_power",
    "pairs_needed",
    "planning_sd",
    "print_comparison",
    "require_same_task_definition",
    "underpowered_warning",
    "unit_values",
    "wilcoxon_signed_rank",
]
