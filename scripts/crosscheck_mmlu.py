"""Cross-check our MMLU tasks against lm-eval's own MMLU configs on the same local data.

lm-eval's `mmlu_professional_psychology` (letter format) and
`mmlu_professional_psychology_continuation` (cloze) configs read `cais/mmlu` from the hub; here
they are pointed at the project's JSONL copy instead and run with the same model and settings as
our `mh_mmlu_professional_psychology_letter` and `mh_mmlu_professional_psychology`. Accuracy and
every item's log-likelihoods must be identical.

Usage: python scripts/crosscheck_mmlu.py [--limit N] [--model DIR] [--chat-template]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

DATA = Path(__file__).resolve().parent.parent / "tasks" / "mh_clinical_mcq" / "data"
SUBJECT = "professional_psychology"
PAIRS = {  # ours -> lm-eval's own config (file under lm_eval/tasks/mmlu)
    f"mh_mmlu_{SUBJECT}_letter": f"default/mmlu_{SUBJECT}.yaml",
    f"mh_mmlu_{SUBJECT}": f"continuation/mmlu_{SUBJECT}.yaml",
}


def _lm_eval_config_on_local_data(relative_yaml: str) -> dict[str, Any]:
    """lm-eval's own config (includes resolved), reading our JSONL instead of the hub."""
    import lm_eval.tasks
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(Path(lm_eval.tasks.__file__).parent / "mmlu" / relative_yaml)
    config.pop("tag", None)
    config.update(
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs={
            "data_files": {
                "test": str(DATA / f"mmlu_{SUBJECT}_test.jsonl"),
                "dev": str(DATA / f"mmlu_{SUBJECT}_dev.jsonl"),
            }
        },
    )
    return config


def crosscheck(model_dir: Path, limit: int | None, chat_template: bool) -> dict[str, dict[str, Any]]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from harness.paths import TASKS_DIR

    lm = HFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=16)
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    theirs_configs = {ours: _lm_eval_config_on_local_data(yaml_file) for ours, yaml_file in PAIRS.items()}
    tasks: list[Any] = list(PAIRS) + list(theirs_configs.values())
    results = simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=limit,
        task_manager=manager,
        apply_chat_template=chat_template,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert results is not None
    report = {}
    for ours, config in theirs_configs.items():
        theirs = config["task"]
        ours_ll = [[r[0] for r in s["filtered_resps"]] for s in results["samples"][ours]]
        theirs_ll = [[r[0] for r in s["filtered_resps"]] for s in results["samples"][theirs]]
        pairs = zip(ours_ll, theirs_ll, strict=True)
        largest_gap = max(abs(a - b) for row_a, row_b in pairs for a, b in zip(row_a, row_b, strict=True))
        report[ours] = {
            "lm_eval_task": theirs,
            "n": len(ours_ll),
            "acc_ours": results["results"][ours]["acc,none"],
            "acc_lm_eval": results["results"][theirs]["acc,none"],
            "max_abs_loglikelihood_difference": largest_gap,
        }
    return report


def main() -> None:
    from harness.models import ensure_default_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--chat-template", action="store_true")
    args = parser.parse_args()
    model_dir = args.model or ensure_default_model().path
    print(json.dumps(crosscheck(model_dir, args.limit, args.chat_template), indent=2))


if __name__ == "__main__":
    main()
