"""People in the loop: agreement between raters, and between raters and the harness's scorers;
annotation packages out (``export``) and labels back in (``importer``, ``labels``)."""

from harness.annotate.agreement import Agreement, cohen_kappa, consensus, krippendorff_alpha
from harness.annotate.export import ExportOptions, export_package
from harness.annotate.fields import AnnotationError, LabelField, LabelSchema, Rubric, load_schema
from harness.annotate.importer import ImportReport, LabelImportError, import_labels, read_manifest
from harness.annotate.labels import (
    ConflictingLabelsError,
    ScorerOutputs,
    read_labels,
    read_scorer_outputs,
    scorer_ratings,
)

__all__ = [
    "Agreement",
    "AnnotationError",
    "ConflictingLabelsError",
    "ExportOptions",
    "ImportReport",
    "LabelField",
    "LabelImportError",
    "LabelSchema",
    "Rubric",
    "ScorerOutputs",
    "cohen_kappa",
    "consensus",
    "export_package",
    "import_labels",
    "krippendorff_alpha",
    "load_schema",
    "read_labels",
    "read_manifest",
    "read_scorer_outputs",
    "scorer_ratings",
]
