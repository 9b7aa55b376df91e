"""Select the psychiatry items of the MedQA (USMLE) test set by a documented rule.

Decides every row of the shared ``medqa-usmle`` test file by the rule in
``tasks/mh_clinical_mcq/data/MEDQA_RULE.md`` (term lists and overrides below) and writes, into
``tasks/mh_clinical_mcq/data/``:

- ``medqa_psych_test.jsonl``: the kept items, 4-option version, same row schema as the MMLU files
  (id, question, subject, choices, answer index) plus ``kept_because`` (the deciding clause);
- ``medqa_psych_review.csv``: every keyword candidate, and every other row the rule or an override
  decides, with its decision, clause and evidence, for audit;
- ``LICENSE-medqa`` and ``SOURCE-medqa.txt`` (upstream record, sha256s, licence note, counts).

The output depends only on the input files, so running the script twice gives identical bytes.

Usage: python scripts/build_medqa_psych.py [--shared ../shared/data/medqa-usmle] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.errors import DataFormatError  # noqa: E402

OUT_DIR = REPO / "tasks" / "mh_clinical_mcq" / "data"
ROWS_FILE = "medqa_test_4options.jsonl"
CANDIDATES_FILE = "psych_keyword_candidates.jsonl"
LETTERS = "ABCD"
SUBJECT = "medqa_psychiatry"
QUESTION_START_CHARS = 120
MIN_PSYCHIATRIC_OPTIONS = 3

# Terms match case-insensitively at the start of a word ("schizophreni" also matches
# "schizophreniform"); hyphens count as spaces. Words that are often non-psychiatric ("depression"
# as in respiratory depression, "withdrawal", "abuse", "agranulocytosis") are left out on purpose:
# a missed item costs less than a wrong one, and the override list catches what is missed.
# Group order matters: the first group with a matching term names the clause.
# fmt: off
TERM_GROUPS: dict[str, tuple[str, ...]] = {
    "adverse-effect": (
        "tardive dyskinesia", "acute dystonia", "akathisia", "pseudoparkinsonism", "extrapyramidal",
        "neuroleptic malignant", "serotonin syndrome",
    ),
    "diagnosis": (
        "schizophreni", "schizoaffective", "schizoid", "schizotypal", "personality disorder",
        "bipolar", "cyclothymi", "major depressi", "persistent depressive", "dysthymi", "mood disorder",
        "adjustment disorder", "acute stress disorder", "post traumatic stress", "posttraumatic stress",
        "ptsd", "anxiety disorder", "panic disorder", "panic attack", "agoraphobi", "phobi",
        "obsessive compulsive", "hoarding", "anorexia nervosa", "bulimi", "eating disorder", "somatization",
        "somatic symptom", "somatoform", "conversion disorder", "factitious", "malingering", "pseudocyesis",
        "delusional disorder", "brief psychotic", "delirium", "dementia", "autis", "attention deficit",
        "adhd", "tourette", "use disorder", "grief", "bereavement",
    ),
    "drug": (
        "antidepressant", "antipsychotic", "neuroleptic", "ssri", "selective serotonin reuptake",
        "mood stabilizer", "benzodiazepine", "citalopram", "escitalopram", "fluoxetine", "paroxetine",
        "sertraline", "fluvoxamine", "venlafaxine", "duloxetine", "amitriptyline", "nortriptyline",
        "imipramine", "clomipramine", "desipramine", "doxepin", "phenelzine", "tranylcypromine", "selegiline",
        "bupropion", "mirtazapine", "trazodone", "haloperidol", "fluphenazine", "chlorpromazine",
        "thioridazine", "perphenazine", "risperidone", "olanzapine", "quetiapine", "clozapine", "aripiprazole",
        "ziprasidone", "sulpiride", "lithium", "valproate", "lamotrigine", "carbamazepine", "alprazolam",
        "diazepam", "lorazepam", "clonazepam", "chlordiazepoxide", "buspirone", "methylphenidate",
        "atomoxetine", "methadone", "buprenorphine", "naltrexone", "disulfiram", "acamprosate", "varenicline",
        "nicotine patch", "nicotine replacement", "benztropine", "donepezil", "rivastigmine", "galantamine",
        "memantine",
    ),
    "intervention": (
        "cognitive behavioral", "cbt", "psychotherapy", "interpersonal therapy", "psychodynamic",
        "dialectical behavior", "desensitization", "exposure therapy", "motivational interviewing",
        "electroconvulsive", "group therapy", "family therapy", "cognitive training",
        "involuntary hospitalization", "involuntary commitment", "psychiatric therapy",
    ),
    "risk": ("suicid", "self harm"),
    "substance": (
        "cocaine", "heroin", "opioid intoxication", "opioid withdrawal", "alcohol withdrawal",
        "delirium tremens", "marijuana", "cannabis", "phencyclidine", "lsd", "mdma", "amphetamine",
        "methamphetamine", "cathinone", "bath salts", "inhalant",
    ),
    "symptom": (
        "hallucination", "delusion", "psychosis", "psychotic", "mania", "manic", "catatoni", "anhedonia",
        "anxiety", "affective symptom", "negative symptom", "depressive symptom", "leaden paralysis",
    ),
}
# fmt: on
# Only the final ask may name a defense mechanism: as answers, "projection" or "regression"
# are ordinary words in other fields.
ASK_ONLY_TERMS: dict[str, tuple[str, ...]] = {"defense-mechanism": ("defense mechanism",)}
# The opening sentence counts only for a setting or a diagnosis, not a symptom: "presents with
# anxiety and palpitations" opens many thyroid items.
OPENING_TERMS: dict[str, tuple[str, ...]] = {
    "setting": ("psychiatrist", "psychiatry", "psychiatric"),
    "diagnosis": TERM_GROUPS["diagnosis"],
}
# ...and only when it introduces one patient: a study of "patients with autism" is an
# epidemiology item whatever its population.
PATIENT_OPENING = re.compile(r"\b(\d+[- ](year|month|week|day)[- ]old|patient|newborn|infant)\b", re.IGNORECASE)

# Residual mistakes found by reading every candidate and every row the rule adds: index in
# medqa_test_4options.jsonl -> (keep?, reason). Keep it short; MEDQA_RULE.md lists every entry.
OVERRIDES: dict[int, tuple[bool, str]] = {
    189: (True, "bulimia nervosa (binge eating, parotid swelling, Russell sign); asks for its dental sign"),
    338: (True, "opioid withdrawal in a person who injects drugs; clonidine is its symptomatic treatment"),
    410: (True, "lithium-induced nephrogenic diabetes insipidus: a psychotropic adverse effect"),
    624: (True, "tricyclic (nortriptyline) overdose after a suicide attempt; bicarbonate treats its toxicity"),
    746: (True, "serotonin syndrome on citalopram after a tryptophan supplement: a psychotropic interaction"),
    777: (False, "fibromyalgia (rheumatology); the antidepressant treats pain, not a psychiatric disorder"),
    911: (True, "bupropion for depression and smoking cessation; asks for its adverse effect"),
    999: (True, "retinal/lens deposits from a low-potency typical antipsychotic: adverse-effect monitoring"),
    1116: (False, "fibromyalgia (rheumatology); the antidepressant treats pain, not a psychiatric disorder"),
    1198: (True, "opioid request by a patient with cocaine use: substance use assessment before prescribing"),
}

CLAUSE_DROP = "drop:keyword-only-incidental"
REVIEW_COLUMNS = ("id", "kept", "clause", "evidence", "keyword_candidate", "correct_answer", "question_start")


@dataclass(frozen=True)
class MedqaRow:
    index: int  # 0-based line number in medqa_test_4options.jsonl
    question: str
    choices: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class Decision:
    kept: bool
    clause: str
    evidence: str


@dataclass(frozen=True)
class ReviewedItem:
    row: MedqaRow
    decision: Decision
    candidate_terms: tuple[str, ...] | None  # None: not among the keyword candidates


def clean_text(text: str) -> str:
    """Strip whitespace and the stray closing quote the upstream conversion left on some fields."""
    text = text.strip()
    if text.endswith('"') and text.count('"') % 2 == 1:
        text = text[:-1].rstrip()
    return text


def fold(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


@functools.cache
def word_start_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(term) for term in terms) + ")")


def find_term(text: str, groups: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """First (group, term) whose term starts a word of ``text``; groups and terms in list order."""
    folded = fold(text)
    for group, terms in groups.items():
        # One search per group first: most texts match nothing.
        if word_start_pattern(tuple(terms)).search(folded):
            return group, next(term for term in terms if word_start_pattern((term,)).search(folded))
    return None


# A sentence ends at . ! ? or : (also before a closing quote) followed by space, or at a line break.
SENTENCE_BREAK = re.compile(r"(?<=[.!?:])\s+|(?<=[.!?:][\"”’])\s+|\n+")


def final_ask(question: str) -> str:
    """The sentence ending at the last question mark (or the last sentence when there is none)."""
    end = question.rfind("?")
    body = question[: end + 1] if end >= 0 else question
    sentences = [s for s in SENTENCE_BREAK.split(body.strip()) if s.strip()]
    return sentences[-1] if sentences else ""


def opening_sentence(question: str) -> str:
    return SENTENCE_BREAK.split(question.strip(), maxsplit=1)[0]


def decide_by_rule(row: MedqaRow) -> Decision:
    """Clauses in order: correct answer, final ask, options, opening sentence; else drop."""
    answer_hit = find_term(row.choices[row.answer], TERM_GROUPS)
    if answer_hit:
        return Decision(True, f"answer:{answer_hit[0]}", answer_hit[1])
    ask_hit = find_term(final_ask(row.question), {**TERM_GROUPS, **ASK_ONLY_TERMS})
    if ask_hit:
        return Decision(True, f"ask:{ask_hit[0]}", ask_hit[1])
    option_hits = [hit for hit in (find_term(choice, TERM_GROUPS) for choice in row.choices) if hit]
    if len(option_hits) >= MIN_PSYCHIATRIC_OPTIONS:
        return Decision(True, "options:psychiatric-3-of-4", "; ".join(term for _, term in option_hits))
    opening = opening_sentence(row.question)
    opening_hit = find_term(opening, OPENING_TERMS)
    if opening_hit and PATIENT_OPENING.search(opening):
        return Decision(True, f"opening:{opening_hit[0]}", opening_hit[1])
    return Decision(False, CLAUSE_DROP, "")


def decide(row: MedqaRow, overrides: Mapping[int, tuple[bool, str]] = OVERRIDES) -> Decision:
    if row.index in overrides:
        kept, reason = overrides[row.index]
        return Decision(kept, "override:keep" if kept else "override:drop", reason)
    return decide_by_rule(row)


def read_jsonl_objects(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; pass --shared pointing at the medqa-usmle folder")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return records


def parse_row(record: Mapping[str, object], index: int, where: str) -> MedqaRow:
    options, answer_idx = record.get("options"), record.get("answer_idx")
    if not isinstance(options, dict) or sorted(options) != list(LETTERS):
        raise DataFormatError(f"{where}: field 'options' must map exactly A-D to texts (use the 4-option file)")
    if answer_idx not in options or options[answer_idx] != record.get("answer"):
        raise DataFormatError(f"{where}: field 'answer_idx' does not name the option equal to 'answer'")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataFormatError(f"{where}: field 'question' is empty")
    choices = tuple(clean_text(str(options[letter])) for letter in LETTERS)
    return MedqaRow(index, clean_text(question), choices, LETTERS.index(str(answer_idx)))


def load_test_rows(shared: Path) -> list[MedqaRow]:
    path = shared / ROWS_FILE
    return [parse_row(record, index, f"{path}:{index + 1}") for index, record in enumerate(read_jsonl_objects(path))]


def load_candidate_terms(shared: Path, rows: Sequence[MedqaRow]) -> dict[int, tuple[str, ...]]:
    """Row index -> regex terms of each keyword candidate, checked against the test file."""
    path = shared / CANDIDATES_FILE
    terms: dict[int, tuple[str, ...]] = {}
    for number, candidate in enumerate(read_jsonl_objects(path), start=1):
        index, where = candidate.get("line_index"), f"{path}:{number}"
        if not isinstance(index, int) or not 0 <= index < len(rows) or index in terms:
            raise DataFormatError(f"{where}: field 'line_index' is missing, outside {ROWS_FILE} or repeated")
        if clean_text(str(candidate.get("answer"))) != rows[index].choices[rows[index].answer]:
            raise DataFormatError(f"{where}: field 'answer' differs from {ROWS_FILE} row {index}; rebuild candidates")
        matched = candidate.get("matched_terms")
        terms[index] = tuple(str(term) for term in matched) if isinstance(matched, list) else ()
    return terms


def review(
    rows: Sequence[MedqaRow],
    candidate_terms: Mapping[int, tuple[str, ...]],
    overrides: Mapping[int, tuple[bool, str]] = OVERRIDES,
) -> list[ReviewedItem]:
    """Every candidate, plus every other row that the rule keeps or an override names."""
    items = []
    for row in rows:
        decision = decide(row, overrides)
        terms = candidate_terms.get(row.index)
        if terms is not None or decision.kept or row.index in overrides:
            if decision.clause == CLAUSE_DROP:
                decision = Decision(False, CLAUSE_DROP, "keyword regex matched: " + ", ".join(terms or ()))
            items.append(ReviewedItem(row, decision, terms))
    return items


def item_id(row: MedqaRow) -> str:
    return f"medqa-test-{row.index:04d}"


def mcq_record(item: ReviewedItem) -> dict[str, object]:
    return {
        "id": item_id(item.row),
        "question": item.row.question,
        "subject": SUBJECT,
        "choices": list(item.row.choices),
        "answer": item.row.answer,
        "kept_because": item.decision.clause,
    }


def review_csv(items: Sequence[ReviewedItem]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for item in items:
        row, decision = item.row, item.decision
        writer.writerow(
            [
                item_id(row),
                "yes" if decision.kept else "no",
                decision.clause,
                decision.evidence,
                "no" if item.candidate_terms is None else "yes",
                row.choices[row.answer],
                " ".join(row.question.split())[:QUESTION_START_CHARS],
            ]
        )
    return buffer.getvalue()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_lines(items: Sequence[ReviewedItem]) -> list[str]:
    candidates = [item for item in items if item.candidate_terms is not None]
    kept_candidates = sum(item.decision.kept for item in candidates)
    added = sum(item.decision.kept for item in items if item.candidate_terms is None)
    clause_counts = Counter((item.candidate_terms is not None, item.decision.clause) for item in items)
    return [
        f"Keyword candidates: {len(candidates)}; kept {kept_candidates}, dropped {len(candidates) - kept_candidates}",
        f"Other test rows kept by the same rule: {added}",
        f"Items shipped: {kept_candidates + added}",
        "Decisions by clause (candidates / other rows):",
        *(
            f"  {clause}: {clause_counts[(True, clause)]} / {clause_counts[(False, clause)]}"
            for clause in sorted({clause for _, clause in clause_counts})
        ),
    ]


def source_text(shared: Path, items: Sequence[ReviewedItem]) -> str:
    upstream = (shared / "SOURCE.txt").read_text(encoding="utf-8").strip()
    lines = [
        "MedQA (USMLE) test set, 4-option version (Jin et al. 2021, github.com/jind11/MedQA): psychiatry items.",
        "Copied from github.com/xk-huang/medagents-benchmark, MIT licence (Gerstein Lab): LICENSE-medqa.",
        "Licence note (shared LICENSE-NOTE.txt): the licence of the upstream MedQA release has NOT been",
        "checked; only the MIT licence of the copy is known. Check it before redistributing these items.",
        "The keyword candidates (psych_keyword_candidates.jsonl) were derived in the shared data folder by a",
        "regex over question + options; they are not part of the upstream release.",
        "",
        "Built by scripts/build_medqa_psych.py with the rule in MEDQA_RULE.md; every decision is listed in",
        "medqa_psych_review.csv. Ids are medqa-test-<0-based line index in medqa_test_4options.jsonl>.",
        "Text cleaning: surrounding whitespace and a stray unmatched trailing double quote removed.",
        "",
        *count_lines(items),
        "",
        "Input files (sha256):",
        *(
            f"  {name}: {sha256_of(shared / name)}"
            for name in (ROWS_FILE, CANDIDATES_FILE, "LICENSE", "LICENSE-NOTE.txt", "SOURCE.txt")
        ),
        "  (medqa_test_5options.jsonl is not used.)",
        "",
        "Upstream record of the copied files (shared SOURCE.txt):",
        upstream,
    ]
    return "\n".join(lines) + "\n"


def build(shared: Path, out_dir: Path) -> list[ReviewedItem]:
    """Write the four output files into ``out_dir``; return every reviewed row with its decision."""
    rows = load_test_rows(shared)
    unknown = sorted(index for index in OVERRIDES if not 0 <= index < len(rows))
    if unknown:
        raise DataFormatError(f"OVERRIDES in {Path(__file__).name}: rows {unknown} are not in {ROWS_FILE}")
    items = review(rows, load_candidate_terms(shared, rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    kept_lines = [json.dumps(mcq_record(item), ensure_ascii=False) + "\n" for item in items if item.decision.kept]
    (out_dir / "medqa_psych_test.jsonl").write_text("".join(kept_lines), encoding="utf-8")
    (out_dir / "medqa_psych_review.csv").write_text(review_csv(items), encoding="utf-8")
    shutil.copyfile(shared / "LICENSE", out_dir / "LICENSE-medqa")
    (out_dir / "SOURCE-medqa.txt").write_text(source_text(shared, items), encoding="utf-8")
    return items


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data/medqa-usmle"))
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: the task's data folder)")
    args = parser.parse_args(argv)
    items = build(args.shared, args.out)
    print("\n".join(count_lines(items)))


if __name__ == "__main__":
    main()
