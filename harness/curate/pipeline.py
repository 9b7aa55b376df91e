"""``mindgate curate``: the data a model is trained on, made safe to train on.

Stages, in order (each row keeps every reason that applies to it):

1. read and check the rows (``records``): an empty prompt or target removes the row (``empty``);
2. scrub personal data from every text (``pii``): rows are kept, texts replaced;
3. decontaminate against every evaluation item of the suite (``decontam``): ``suite_overlap``;
4. safety of what would be learned: targets (responses, chosen replies, assistant turns) that the
   project's toxicity scorer calls toxic (``toxic``) or that the crisis judgement calls harmful
   by either of its layers, phrases or classifier (``harmful``; the classifier's thresholds are
   chosen for recall, so this filter errs towards removing). A preference pair's rejected side
   is not a target and may be harmful: that is what it is for;
5. exact and near duplicates among the rows still kept (``dedup``): ``duplicate``.

Outputs (``--out DIR``): ``curated.jsonl`` (the kept rows, original columns, scrubbed texts),
``removed.jsonl`` (every removed row, scrubbed, with its reasons), ``curation.json`` (counts,
examples, rule, settings, versions, sha256 of input and outputs) and ``curation.md``. All are
written to temporary names and renamed when complete, so a failed run leaves no half output.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.curate.decontam import DEFAULT_N, SuiteIndex, build_index, suite_items
from harness.curate.dedup import find_duplicates
from harness.curate.pii import PiiScrubber
from harness.curate.records import ColumnSpec, Row, read_rows, replace_texts
from harness.errors import MindgateError
from harness.models._hashing import sha256_file

REASONS: tuple[str, ...] = ("empty", "suite_overlap", "harmful", "toxic", "duplicate")
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 280
OUTPUT_FILES = ("curated.jsonl", "removed.jsonl", "curation.json", "curation.md")
SCHEMA_VERSION = 1


class CurationError(MindgateError):
    """Curation cannot go on (the message says which input or output and why)."""


@dataclass(frozen=True)
class CurationConfig:
    """How to curate; also the record of it in ``curation.json``."""

    pii_engine: str = field(
        default="presidio",
        metadata={"help": "presidio (spaCy names + Presidio recognisers + the project's patterns) or regex"},
    )
    near_duplicate_threshold: float = field(
        default=0.8, metadata={"help": "MinHash Jaccard similarity at or above which a row is a near duplicate"}
    )
    ngram: int = field(default=DEFAULT_N, metadata={"help": "word n-gram size of the decontamination rule"})
    toxicity_filter: bool = field(
        default=True, metadata={"help": "remove rows whose target the toxicity scorer calls toxic"}
    )
    crisis_filter: bool = field(
        default=True, metadata={"help": "remove rows whose target the crisis judgement calls harmful"}
    )
    decontaminate: bool = field(
        default=True, metadata={"help": "remove rows that overlap an evaluation item of the suite"}
    )
    dedup: bool = field(default=True, metadata={"help": "remove exact and near duplicates"})

    def check(self) -> None:
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise CurationError(f"near_duplicate_threshold must be in (0, 1], got {self.near_duplicate_threshold}")
        if self.ngram < 4:
            raise CurationError(f"ngram must be at least 4 (shorter n-grams are ordinary phrases), got {self.ngram}")


@dataclass
class _Judged:
    row: Row
    texts: list[str]  # scrubbed, in segment order
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CurationResult:
    out_dir: Path
    rows_in: int
    rows_kept: int
    removed_by_reason: dict[str, int]
    flagged_by_reason: dict[str, int]
    record: dict[str, Any]


def curate(
    input_path: Path,
    spec: ColumnSpec,
    out_dir: Path,
    config: CurationConfig = CurationConfig(),
    console: Console | None = None,
    force: bool = False,
    suite_index: SuiteIndex | None = None,
    where: dict[str, str] | None = None,
) -> CurationResult:
    config.check()
    spec = spec.resolved()
    console = console or Console(stderr=True)
    existing = [name for name in OUTPUT_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise CurationError(
            f"{out_dir} already holds a curation ({', '.join(existing)}); choose another --out or pass --force"
        )
    started = time.monotonic()
    timings: dict[str, float] = {}
    rows = read_rows(input_path, spec)
    rows_in_file = len(rows)
    if where:
        for column in where:
            if all(column not in row.raw for row in rows):
                raise CurationError(f"{input_path}: --where names column {column!r}, which no row has")
        rows = [row for row in rows if all(str(row.raw.get(column)) == value for column, value in where.items())]
        if not rows:
            raise CurationError(f"{input_path}: no row has {', '.join(f'{c}={v}' for c, v in where.items())}")
    judged: list[_Judged] = []
    with _Stages(console) as stages:
        clock = time.monotonic()
        scrubber = PiiScrubber(config.pii_engine)
        pii_counts: Counter[str] = Counter()
        with stages.stage("scrubbing personal data", len(rows)) as advance:
            for row in rows:
                results = [scrubber.scrub(segment.text) for segment in row.segments]
                for result in results:
                    pii_counts.update(span.kind for span in result.spans)
                item = _Judged(row, [result.text for result in results])
                if any(not segment.text.strip() for segment in row.segments if segment.role in ("prompt", "target")):
                    item.reasons.append("empty")
                judged.append(item)
                advance(1)
        timings["pii_s"] = time.monotonic() - clock

        index = None
        if config.decontaminate:
            clock = time.monotonic()
            index = suite_index or build_index(suite_items(), n=config.ngram)
            with stages.stage("decontaminating against the suite", len(judged)) as advance:
                for item in judged:
                    found = next((hit for hit in (index.match(text) for text in item.texts) if hit), None)
                    if found:
                        item.reasons.append("suite_overlap")
                        item.details["suite_item"] = found
                    advance(1)
            timings["decontaminate_s"] = time.monotonic() - clock

        live = [item for item in judged if "empty" not in item.reasons]
        if config.crisis_filter:
            clock = time.monotonic()
            _crisis(live, stages)
            timings["crisis_s"] = time.monotonic() - clock
        if config.toxicity_filter:
            clock = time.monotonic()
            _toxicity(live, stages)
            timings["toxicity_s"] = time.monotonic() - clock
        if config.dedup:
            clock = time.monotonic()
            survivors = [item for item in judged if not item.reasons]
            keys = ["\n".join(item.texts) for item in survivors]
            with stages.stage("removing duplicates", len(survivors)) as advance:
                for duplicate in find_duplicates(keys, config.near_duplicate_threshold):
                    item = survivors[duplicate.index]
                    item.reasons.append("duplicate")
                    item.details["duplicate_of"] = survivors[duplicate.of].row.name
                    item.details["duplicate_kind"] = duplicate.kind
                    item.details["similarity"] = duplicate.similarity
                advance(len(survivors))
            timings["dedup_s"] = time.monotonic() - clock

    kept = [item for item in judged if not item.reasons]
    removed = [item for item in judged if item.reasons]
    if not kept:
        counts = Counter(reason for item in removed for reason in item.reasons)
        raise CurationError(
            f"{input_path}: every one of {len(rows)} rows was removed ("
            + ", ".join(f"{reason}: {counts[reason]}" for reason in REASONS if counts[reason])
            + "); nothing was written. Check the column names (--prompt/--response/...) and the data"
        )
    timings["total_s"] = time.monotonic() - started
    record = _record(input_path, spec, config, scrubber, index, rows, judged, pii_counts, timings)
    record["input"].update({"rows_in_file": rows_in_file, "where": dict(where or {})})
    _write_outputs(out_dir, spec, kept, removed, record)
    return CurationResult(
        out_dir=out_dir,
        rows_in=len(rows),
        rows_kept=len(kept),
        removed_by_reason=record["removed_by_first_reason"],
        flagged_by_reason=record["flagged_by_reason"],
        record=record,
    )


def _crisis(items: Sequence[_Judged], stages: _Stages) -> None:
    from harness.scoring.crisis import default_crisis_scorer

    scorer = default_crisis_scorer()
    pairs = [(item, message, reply) for item in items for message, reply in _target_pairs(item)]
    batch = 32
    with stages.stage("crisis-safety filter", len(pairs)) as advance:
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            scores = scorer.score_many([p[2] for p in chunk], ["moderate"] * len(chunk), [p[1] for p in chunk])
            for (item, _, _), score in zip(chunk, scores, strict=True):
                layers = score.metadata["layers"]
                by_phrases = bool(layers["patterns"]["harmful"])
                by_model = bool(layers["classifier"] and layers["classifier"]["harmful"])
                if (by_phrases or by_model) and "harmful" not in item.reasons:
                    item.reasons.append("harmful")
                    item.details["harmful_by"] = [
                        name for name, hit in (("phrases", by_phrases), ("classifier", by_model)) if hit
                    ]
                    item.details["harm_categories"] = score.metadata.get("harm_categories", [])
            advance(len(chunk))


def _toxicity(items: Sequence[_Judged], stages: _Stages) -> None:
    from harness.scoring.toxicity import ToxicityScorer

    scorer = ToxicityScorer()
    pairs = [(item, reply) for item in items for _, reply in _target_pairs(item)]
    batch = 64
    with stages.stage("toxicity filter", len(pairs)) as advance:
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            for (item, _), score in zip(chunk, scorer.score_batch([p[1] for p in chunk]), strict=True):
                if score.metadata["is_toxic"] and "toxic" not in item.reasons:
                    item.reasons.append("toxic")
                    item.details["toxicity"] = round(score.value, 3)
            advance(len(chunk))


def _target_pairs(item: _Judged) -> list[tuple[str, str]]:
    """(message, reply) per target, from the scrubbed texts."""
    pairs, last_prompt = [], ""
    for segment, text in zip(item.row.segments, item.texts, strict=True):
        if segment.role == "prompt":
            last_prompt = text
        elif segment.role == "target" and text.strip():
            pairs.append((last_prompt, text))
    return pairs


def _record(
    input_path: Path,
    spec: ColumnSpec,
    config: CurationConfig,
    scrubber: PiiScrubber,
    index: SuiteIndex | None,
    rows: Sequence[Row],
    judged: Sequence[_Judged],
    pii_counts: Counter[str],
    timings: dict[str, float],
) -> dict[str, Any]:
    from importlib.metadata import version

    flagged = Counter(reason for item in judged for reason in item.reasons)
    first = Counter(item.reasons[0] for item in judged if item.reasons)
    examples: dict[str, list[dict[str, Any]]] = {}
    for reason in REASONS:
        chosen = [item for item in judged if item.reasons and item.reasons[0] == reason][:EXAMPLES_PER_REASON]
        examples[reason] = [_example(item) for item in chosen]
    return {
        "schema_version": SCHEMA_VERSION,
        "input": {"file": input_path.name, "sha256": sha256_file(input_path), "rows": len(rows)},
        "columns": spec.as_record(),
        "config": asdict(config),
        "pii": {**scrubber.describe(), "spans_replaced": dict(sorted(pii_counts.items()))},
        "decontamination": index.describe() if index is not None else None,
        "rows_kept": sum(1 for item in judged if not item.reasons),
        "rows_removed": sum(1 for item in judged if item.reasons),
        "flagged_by_reason": {reason: flagged[reason] for reason in REASONS},
        "removed_by_first_reason": {reason: first[reason] for reason in REASONS},
        "examples": examples,
        "versions": {"mindgate": version("mindgate")},
        "timing_s": {name: round(value, 2) for name, value in timings.items()},
    }


def _example(item: _Judged) -> dict[str, Any]:
    shown = {segment.where: _clip(text) for segment, text in zip(item.row.segments, item.texts, strict=True)}
    return {"row": item.row.name, "line": item.row.line, "reasons": list(item.reasons), **item.details, "texts": shown}


def _where(where: dict[str, str]) -> str:
    return " by " + ", ".join(f"{column} = {value!r}" for column, value in where.items()) if where else ""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 3] + "..."


def _write_outputs(
    out_dir: Path, spec: ColumnSpec, kept: Sequence[_Judged], removed: Sequence[_Judged], record: dict[str, Any]
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Path]] = []
    try:
        curated = _write_jsonl(out_dir / "curated.jsonl", (replace_texts(item.row, spec, item.texts) for item in kept))
        removed_rows = (
            {
                "row": item.row.name,
                "line": item.row.line,
                "reasons": item.reasons,
                **item.details,
                "record": replace_texts(item.row, spec, item.texts),
            }
            for item in removed
        )
        dropped = _write_jsonl(out_dir / "removed.jsonl", removed_rows)
        written += [curated, dropped]
        record["outputs"] = {
            "curated.jsonl": {"sha256": sha256_file(curated[0]), "rows": len(kept)},
            "removed.jsonl": {"sha256": sha256_file(dropped[0]), "rows": len(removed)},
        }
        summary = _temporary(out_dir / "curation.json")
        summary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append((summary, out_dir / "curation.json"))
        page = _temporary(out_dir / "curation.md")
        page.write_text(render_markdown(record), encoding="utf-8")
        written.append((page, out_dir / "curation.md"))
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in written:
        os.replace(temporary, final)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]] | Any) -> tuple[Path, Path]:
    temporary = _temporary(path)
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return temporary, path


def render_markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Curation report",
        "",
        f"Input `{record['input']['file']}` (sha256 `{record['input']['sha256'][:16]}...`): "
        f"{record['input']['rows']} of {record['input']['rows_in_file']} rows selected"
        f"{_where(record['input']['where'])}, columns {json.dumps(record['columns'])}.",
        f"Kept **{record['rows_kept']}**, removed **{record['rows_removed']}**.",
        "",
        "Content warning: the examples of removed rows below may quote harmful or toxic text (personal data scrubbed).",
        "",
        "| reason | rows flagged | removed (first reason) |",
        "|---|---|---|",
    ]
    for reason in REASONS:
        lines.append(
            f"| {reason} | {record['flagged_by_reason'][reason]} | {record['removed_by_first_reason'][reason]} |"
        )
    lines += ["", "## Personal data", "", f"Engine: `{record['pii']['engine']}`. Spans replaced:"]
    spans = record["pii"]["spans_replaced"]
    lines.append(", ".join(f"{kind} {count}" for kind, count in spans.items()) if spans else "none.")
    decon = record.get("decontamination")
    lines += ["", "## Decontamination", ""]
    if decon:
        lines.append(
            f"Rule: a row is removed when it {decon['rule']}. Suite items indexed: {decon['items']} "
            f"({decon['items_too_short']} too short to check alone; "
            f"{decon['template_ngrams_ignored']} template n-grams ignored); "
            f"index sha256 `{decon['index_sha256'][:16]}...`."
        )
    else:
        lines.append("Not run (--no-decontaminate).")
    lines += ["", "## Examples of removed rows", ""]
    for reason, examples in record["examples"].items():
        if not examples:
            continue
        lines.append(f"### {reason}")
        lines.append("")
        for example in examples:
            extra = {k: v for k, v in example.items() if k not in ("row", "line", "reasons", "texts")}
            reasons = ", ".join(example["reasons"])
            details = json.dumps(extra) if extra else ""
            lines.append(f"- {example['row']} (line {example['line']}; reasons: {reasons}) {details}")
            for where, text in example["texts"].items():
                lines.append(f"  - `{where}`: {text}")
        lines.append("")
    lines += ["## Outputs", ""]
    for name, output in record["outputs"].items():
        lines.append(f"- `{name}`: {output['rows']} rows, sha256 `{output['sha256']}`")
    lines += ["", f"Timing (s): {json.dumps(record['timing_s'])}", ""]
    return "\n".join(lines)


class _Stages:
    """One progress bar per stage, with an ETA on a terminal; a line per stage elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None

    def __enter__(self) -> _Stages:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    @contextmanager
    def stage(self, name: str, total: int) -> Iterator[Any]:
        started = time.monotonic()
        if self.progress is not None:
            bar = self.progress.add_task(name, total=max(total, 1))
            progress = self.progress

            def advance(n: int) -> None:
                progress.advance(bar, n)

            yield advance
        else:
            self.console.print(f"curate: {name} ({total} rows)...", markup=False, highlight=False)
            yield lambda n: None
            self.console.print(
                f"curate: {name} done in {time.monotonic() - started:.1f} s", markup=False, highlight=False
            )
