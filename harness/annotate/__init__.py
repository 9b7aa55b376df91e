"""People in the loop: agreement between raters, and between raters and the harness's scorers."""

from harness.annotate.agreement import Agreement, cohen_kappa, consensus, krippendorff_alpha

__all__ = ["Agreement", "cohen_kappa", "consensus", "krippendorff_alpha"]
