"""Check an annotation package against Label Studio's own code (its SDK's ``LabelInterface``).

Runs in a separate environment that has ``label-studio-sdk`` (it pins libraries the project's
environment cannot share); ``make check-label-studio`` builds that environment, exports a package
from the committed baseline and runs this script, then imports what Label Studio generated:

1. every labelling configuration parses;
2. every rater task file validates against its configuration;
3. for each task, Label Studio generates an annotation (random labels, every control filled) and
   validates it; those annotations are written as a Label Studio JSON export, which
   ``mindgate annotate import`` must then accept (the Makefile target does that step).

Usage: python scripts/check_label_studio.py PACKAGE_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(package: Path, out: Path) -> int:
    from label_studio_sdk.label_interface import LabelInterface

    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for config in sorted((package / "label-studio").glob("config-*.xml")):
        rubric = config.stem.removeprefix("config-")
        interface = LabelInterface(config.read_text(encoding="utf-8"))
        controls = [control.name for control in interface.controls]
        print(f"{config.name}: parses; {len(controls)} controls ({', '.join(controls)})")
        for tasks_file in sorted((package / "label-studio").glob(f"tasks-rater-*-{rubric}.json")):
            tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
            exported = []
            for number, task in enumerate(tasks, start=1):
                if not interface.validate_task(task):
                    print(f"  {tasks_file.name} task {number}: Label Studio does not accept it")
                    failures += 1
                result = interface.generate_sample_prediction()["result"]
                if not interface.validate_annotation({"result": result}):
                    print(f"  {tasks_file.name} task {number}: the generated annotation does not validate")
                    failures += 1
                exported.append(
                    {
                        "id": number,
                        "data": task["data"],
                        "annotations": [{"id": number, "completed_by": 1, "result": result, "was_cancelled": False}],
                        "predictions": [],
                    }
                )
            target = out / f"export-{tasks_file.stem}.json"
            target.write_text(json.dumps(exported, indent=1), encoding="utf-8")
            print(f"  {tasks_file.name}: {len(tasks)} tasks validate; Label Studio's annotations in {target.name}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
