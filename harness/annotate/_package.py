"""Writing an annotation package: what raters get, and the coordinator's manifest.

Rater files (Label Studio tasks, CSV sheets) carry only the annotation id, the rater id, the
scrubbed message and reply and the content warning: never the reference tier or a scorer output
(PROTOCOL.md, section 3). Those go to ``manifest.json`` alone, which stays with the coordinator.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.annotate._items import SCRUBBER
from harness.annotate.fields import AnnotationError, LabelSchema, Rubric

if TYPE_CHECKING:
    from harness.annotate.export import Assigned, ExportOptions

MANIFEST_NAME = "manifest.json"
# The only keys a rater's file may hold; the test on leaks checks against this list.
RATER_KEYS: tuple[str, ...] = ("annotation_id", "rater_id", "content_warning", "message", "reply")


def tasks_file_name(rater: str, rubric: str) -> str:
    return f"tasks-rater-{rater.removeprefix('r')}-{rubric}.json"


def csv_file_name(rater: str, rubric: str) -> str:
    return f"rater-{rater.removeprefix('r')}-{rubric}.csv"


def write_package(
    out: Path, assigned: Sequence[Assigned], options: ExportOptions, schema: LabelSchema, raters: Sequence[str]
) -> Path:
    if out.exists() and any(out.iterdir()):
        raise AnnotationError(
            f"{out}: not empty; write each package to a new folder (files of an older package would mix in)"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "label-studio").mkdir(exist_ok=True)
    (out / "csv").mkdir(exist_ok=True)
    rubrics = sorted({a.item.rubric for a in assigned})
    manifest = _manifest(assigned, options, schema, raters)
    for name in rubrics:
        rubric = schema.rubrics[name]
        _write(out / "label-studio" / f"config-{name}.xml", label_studio_config(rubric))
        for rater in raters:
            mine = _rater_items(assigned, rater, name, options.seed)
            if not mine:
                continue
            rows = [{key: _rater_record(a, rater)[key] for key in RATER_KEYS} for a in mine]
            tasks = [{"data": row} for row in rows]
            _write(out / "label-studio" / tasks_file_name(rater, name), _json(tasks))
            _write(out / "csv" / csv_file_name(rater, name), rater_csv(rows, rubric))
    manifest_path = out / MANIFEST_NAME
    _write(manifest_path, _json(manifest))
    _write(out / "README.md", _readme(manifest, rubrics, raters))
    return manifest_path


def label_studio_config(rubric: Rubric) -> str:
    """A Label Studio labelling configuration: the message and reply as Text, one Choices per
    field (required where the protocol says a field is never blank), a TextArea for free text."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$content_warning", size="6")
    ET.SubElement(view, "Header", value="Message", size="4")
    ET.SubElement(view, "Text", name="message", value="$message")
    ET.SubElement(view, "Header", value="Reply", size="4")
    ET.SubElement(view, "Text", name="reply", value="$reply")
    for field in rubric.fields:
        ET.SubElement(view, "Header", value=field.question, size="6")
        attributes = {"name": field.name, "toName": field.target}
        if field.required:
            attributes["required"] = "true"
        if field.scale == "text":
            ET.SubElement(view, "TextArea", {**attributes, "rows": "2", "maxSubmissions": "1", "editable": "true"})
            continue
        choices = ET.SubElement(view, "Choices", {**attributes, "choice": "single-radio", "showInline": "true"})
        for value in field.values:
            ET.SubElement(choices, "Choice", value=value)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def rater_csv(rows: Sequence[dict[str, str]], rubric: Rubric) -> str:
    """One row per item: the item, a blank rater id to fill, and one blank column per field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RATER_KEYS, *(f.name for f in rubric.fields)])
    for row in rows:
        writer.writerow(
            [row["annotation_id"], "", row["content_warning"], row["message"], row["reply"]] + [""] * len(rubric.fields)
        )
    return buffer.getvalue()


def _rater_record(assigned: Assigned, rater: str) -> dict[str, str]:
    item = assigned.item
    return {
        "annotation_id": item.annotation_id,
        "rater_id": rater,
        "content_warning": item.content_warning,
        "message": item.message,
        "reply": item.reply,
    }


def _rater_items(assigned: Sequence[Assigned], rater: str, rubric: str, seed: int) -> list[Assigned]:
    """A rater's items in a seeded order that mixes tiers and tasks (the protocol's batch mix)."""
    mine = [a for a in assigned if rater in a.raters and a.item.rubric == rubric]
    return sorted(mine, key=lambda a: _sha(f"{seed}/{rater}/{a.item.annotation_id}"))


def _manifest(
    assigned: Sequence[Assigned], options: ExportOptions, schema: LabelSchema, raters: Sequence[str]
) -> dict[str, Any]:
    items = {
        a.item.annotation_id: {
            "run_id": a.item.run_id,
            "task": a.item.task,
            "item_key": a.item.item_key,
            "rubric": a.item.rubric,
            "message_sha256": a.item.message_sha256,
            "reply_sha256": a.item.reply_sha256,
            "content_warning": bool(a.item.content_warning),
            "reference_tier": a.item.reference_tier,
            "stratum": a.item.stratum,
            "scorers": {name: dict(labels) for name, labels in sorted(a.item.scorers.items())},
            "details": dict(a.item.details),
            "raters": list(a.raters),
        }
        for a in sorted(assigned, key=lambda a: a.item.annotation_id)
    }
    body = {
        "protocol_version": schema.version,
        "options": options.as_record(),
        "raters": list(raters),
        "runs": sorted({a.item.run_id for a in assigned}),
        "scrubber": SCRUBBER,
        "items": items,
    }
    return {"package_id": "pkg-" + _sha(_json(body))[:12], **body}


def _readme(manifest: dict[str, Any], rubrics: Sequence[str], raters: Sequence[str]) -> str:
    double = sum(1 for item in manifest["items"].values() if len(item["raters"]) > 1)
    lines = [
        f"# Annotation package {manifest['package_id']}",
        "",
        f"Written by `mindgate annotate export` under labelling protocol version {manifest['protocol_version']}",
        "(`rubrics/annotation/PROTOCOL.md` in the mindgate repository; every rater reads sections 2 and 3",
        f"before the first session). {len(manifest['items'])} items, {double} of them for two raters;",
        f"raters {', '.join(raters)}; rubrics {', '.join(rubrics)}.",
        "",
        "## For the coordinator",
        "",
        "- **Give each rater only their own files**: `label-studio/tasks-rater-<k>-<rubric>.json` (import",
        "  into a Label Studio project set up with `label-studio/config-<rubric>.xml`, one project per",
        "  rater and rubric) or `csv/rater-<k>-<rubric>.csv` for spreadsheet labelling. Tell the rater",
        "  their rater id (`r<k>`); in the CSV they write it in the `rater_id` column of every row they label.",
        "- **Keep `manifest.json` and this folder's other files to yourself.** The manifest holds the",
        "  reference tiers and the scorers' outputs, which raters must not see (protocol section 3).",
        "- Mix tiers across sessions and keep the session limits (section 2.2); the rater files are",
        "  already in a mixed order. Skipped items go to another rater (section 2.2).",
        "- Take the labels back with Label Studio's JSON export or the filled CSV:",
        "",
        "  `mindgate annotate import EXPORT.json rater-1-crisis.csv --manifest manifest.json`",
        "",
        "- An item withdrawn for a scrubbing miss or a real-risk report (sections 2.5, 11) is removed",
        "  from the rater files before they are handed out again; its id stays in the manifest.",
        "",
    ]
    return "\n".join(lines)


def _json(payload: Any) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
