"""Decontamination: no training row may contain an evaluation item of the suite.

The rule (written into every curation report):

- The suite's items are every task under ``tasks/``: each document's prompt as the model sees it
  (lm-eval's ``doc_to_text``), the text of its gold answer where it has one, and every string of
  four or more words in the data files the task configs name (few-shot examples included).
- Texts are compared as lower-cased word tokens without punctuation (``dedup.words``).
- A training row is contaminated when any of its texts (prompt, target or rejected side) shares
  a word ``n``-gram (n = 8 by default) with an item, or, for items shorter than ``n`` words but at
  least four, contains the whole item.
- An ``n``-gram found in more than ``TEMPLATE_ITEMS`` items is template text of a task (such as
  "I was asked to describe what has been going on"), not an item, and does not count.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.curate.dedup import words

DEFAULT_N = 8
MIN_ITEM_WORDS = 4
TEMPLATE_ITEMS = 5


@dataclass(frozen=True)
class SuiteItem:
    name: str  # "mh_crisis:12" or "tasks/mh_crisis/data/prompts.jsonl:13"
    text: str
    # A prompt short enough to be matched whole; answers and answer options of a few words
    # ("an internal locus of control") are common phrases, so they count only through n-grams.
    whole: bool = True


@dataclass
class SuiteIndex:
    n: int
    ngrams: dict[str, str] = field(default_factory=dict)  # sha1 of the n-gram -> first item
    short: dict[int, dict[str, str]] = field(default_factory=dict)  # length -> sha1 -> item
    items: int = 0
    template_ngrams: int = 0
    too_short: int = 0
    digest: str = ""

    def match(self, text: str) -> str | None:
        """The first suite item ``text`` overlaps by the rule, or None."""
        tokens = words(text)
        for length, table in self.short.items():
            for i in range(len(tokens) - length + 1):
                found = table.get(_key(tokens[i : i + length]))
                if found:
                    return found
        for i in range(len(tokens) - self.n + 1):
            found = self.ngrams.get(_key(tokens[i : i + self.n]))
            if found:
                return found
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "rule": f"shares a word {self.n}-gram with a suite item (prompt or answer), or contains a whole prompt "
            f"of {MIN_ITEM_WORDS}-{self.n - 1} words; n-grams in more than {TEMPLATE_ITEMS} items are template text",
            "n": self.n,
            "items": self.items,
            "items_too_short": self.too_short,
            "template_ngrams_ignored": self.template_ngrams,
            "index_sha256": self.digest,
        }


def _key(tokens: Sequence[str]) -> str:
    return hashlib.sha1(" ".join(tokens).encode(), usedforsecurity=False).hexdigest()


def build_index(items: Sequence[SuiteItem], n: int = DEFAULT_N) -> SuiteIndex:
    index = SuiteIndex(n=n)
    owners: dict[str, set[str]] = defaultdict(set)
    first: dict[str, str] = {}
    seen_texts: set[str] = set()
    digest = hashlib.sha256()
    for item in items:
        tokens = words(item.text)
        joined = " ".join(tokens)
        if joined in seen_texts:
            continue
        seen_texts.add(joined)
        digest.update(joined.encode() + b"\n")
        index.items += 1
        if len(tokens) < MIN_ITEM_WORDS:
            index.too_short += 1
        elif len(tokens) < n:
            if not item.whole:
                index.too_short += 1
                continue
            index.short.setdefault(len(tokens), {}).setdefault(_key(tokens), item.name)
        else:
            for i in range(len(tokens) - n + 1):
                key = _key(tokens[i : i + n])
                owners[key].add(item.name)
                first.setdefault(key, item.name)
    for key, names in owners.items():
        if len(names) > TEMPLATE_ITEMS:
            index.template_ngrams += 1
        else:
            index.ngrams[key] = first[key]
    index.digest = digest.hexdigest()
    return index


def suite_items(tasks_dir: Path | None = None) -> list[SuiteItem]:
    """Every evaluation item of the project's tasks, rendered as lm-eval renders them, plus the
    strings of their data files."""
    from harness.paths import PROJECT_DIR, TASKS_DIR
    from harness.run._identity import task_sources

    tasks_dir = tasks_dir or TASKS_DIR
    items: list[SuiteItem] = list(_rendered_items())
    data_files: set[Path] = set()
    for yaml_path in sorted(tasks_dir.rglob("*.yaml")):
        try:
            sources = task_sources(yaml_path)
        except (FileNotFoundError, ValueError):
            continue
        for name in sources.data:
            for candidate in (yaml_path.parent / name, yaml_path.parent / "data" / name):
                if candidate.is_file():
                    data_files.add(candidate.resolve())
    for path in sorted(data_files):
        shown = (
            path.relative_to(PROJECT_DIR.resolve()).as_posix()
            if path.is_relative_to(PROJECT_DIR.resolve())
            else path.name
        )
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                for text, whole in _strings(json.loads(line)):
                    if len(text.split()) >= MIN_ITEM_WORDS:
                        items.append(SuiteItem(f"{shown}:{line_number}", text, whole))
    return items


def _rendered_items() -> Iterator[SuiteItem]:
    import logging

    from harness.run._tasks import project_tasks, task_manager

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    names = project_tasks()
    manager = task_manager(names)
    loaded = manager.load_task_or_group(names)
    seen: set[str] = set()
    for name, task in _leaves(loaded):
        if name in seen or not hasattr(task, "eval_docs"):
            continue
        seen.add(name)
        for number, doc in enumerate(task.eval_docs):
            prompt = task.doc_to_text(doc)
            if isinstance(prompt, str):
                yield SuiteItem(f"{name}:{number}", prompt)
            answer = _gold_text(task, doc)
            if answer:
                yield SuiteItem(f"{name}:{number}:answer", answer, whole=False)


def _gold_text(task: Any, doc: Any) -> str | None:
    target = task.doc_to_target(doc)
    if task.config.doc_to_choice is not None:
        choices = task.doc_to_choice(doc)
        if isinstance(target, int) and isinstance(choices, list) and 0 <= target < len(choices):
            return str(choices[target])
    return target if isinstance(target, str) and target.strip() else None


def _leaves(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from _leaves(value)
            else:
                yield (key if isinstance(key, str) else getattr(key, "group_name", str(key))), value


def _strings(node: Any, in_list: bool = False) -> Iterator[tuple[str, bool]]:
    """(string, may be matched whole): strings inside a list are answer options."""
    if isinstance(node, str):
        yield node, not in_list
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value, in_list)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, True)
