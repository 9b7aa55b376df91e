"""Machine-readable DSM-5 criteria (paraphrased), a criteria checker, a vignette generator
and the metrics of the ``mh_dsm5_consistency`` task.

Data flow: ``load_criteria`` reads ``rubrics/dsm5/*.yaml`` -> ``generate_items`` builds
vignettes with gold labels -> a model answers -> the metric functions score the answers.
``check_case`` is the independent reference the generated labels are tested against.
"""

from harness.dsm5._case import Case
from harness.dsm5._generate import (
    DEFAULT_CASES_PER_DISORDER,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    NONE_LABEL,
    Item,
    generate_items,
)
from harness.dsm5._load import default_criteria_dir, load_criteria, load_disorder
from harness.dsm5._logic import CriterionResult, Verdict, check_case
from harness.dsm5._metrics import (
    MetricResult,
    accuracy,
    invariance,
    invariance_correct,
    invariance_groups,
    minimal_pair_consistency,
    minimal_pairs,
    positive_predictive_value,
    sensitivity,
    specificity,
)
from harness.dsm5._render import render_vignette
from harness.dsm5._schema import (
    CriteriaError,
    Disorder,
    Duration,
    DurationRule,
    Exclusion,
    SymptomGroup,
    SymptomItem,
)
from harness.dsm5._surface import Surface

__all__ = [
    "DEFAULT_CASES_PER_DISORDER",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "NONE_LABEL",
    "Case",
    "CriteriaError",
    "CriterionResult",
    "Disorder",
    "Duration",
    "DurationRule",
    "Exclusion",
    "Item",
    "MetricResult",
    "Surface",
    "SymptomGroup",
    "SymptomItem",
    "Verdict",
    "accuracy",
    "check_case",
    "default_criteria_dir",
    "generate_items",
    "invariance",
    "invariance_correct",
    "invariance_groups",
    "load_criteria",
    "load_disorder",
    "minimal_pair_consistency",
    "minimal_pairs",
    "positive_predictive_value",
    "render_vignette",
    "sensitivity",
    "specificity",
]
