"""What a task is, by content: its config after includes, the source of its hook modules, its data.

Two runs may be paired only if they evaluated the same task. The identity must not depend on
where the checkout lives, who ran it or which process: lm-eval's dumped config carries the
absolute path of the YAML file (``metadata.config_source``) and, in nested fields, function
reprs with memory addresses. Both are dropped before hashing. Records written before this was so
are re-hashed on read with the same function (``harness.store.StoredRun.task_info``).

Three hashes per task:

- ``config_hash``: lm-eval's config (YAML after includes; lm-eval stores the source code of each
  top-level ``!function`` hook in it), without paths and addresses. Recomputable from any stored
  record, old or new.
- ``hooks_hash``: the source files of the modules that define the ``!function`` targets, so a
  change to a helper those hooks call (not only to the hook itself) changes the identity; and
  the files the task's YAML lists under ``metadata.identity_files`` (paths relative to the YAML):
  what its scorer reads besides code, such as rubric files and a trained scorer's record of its
  weights, so a retrained scorer or an edited rubric is a different task.
- ``data_hash``: the data files the task's ``dataset_kwargs`` name (the project's tasks list their
  JSONL files there), byte for byte, so data beyond a ``--limit`` or in few-shot splits counts too.

The last two need the files and are computed when the run is made; records older than them lack
the fields, and the comparison then rests on the config hash and the item-set hash alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Keys of lm-eval's task metadata that describe the machine, not the task.
_MACHINE_METADATA = ("config_source",)
# Identity fields a record may predate: compared only when both records have them.
SOURCE_IDENTITY_FIELDS = ("hooks_hash", "data_hash")


def canonical_task_config(task_config: Mapping[str, Any]) -> dict[str, Any]:
    """lm-eval's task config without what depends on the machine or the process."""
    text = _ADDRESS.sub("", json.dumps(task_config, sort_keys=True, default=str))
    canonical: dict[str, Any] = json.loads(text)
    metadata = canonical.get("metadata")
    if isinstance(metadata, dict):
        for key in _MACHINE_METADATA:
            metadata.pop(key, None)
    return canonical


def config_hash(task_config: Mapping[str, Any]) -> str:
    text = json.dumps(canonical_task_config(task_config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def config_source(task_config: Mapping[str, Any]) -> Path | None:
    """The YAML file lm-eval built the task from, while the run is being made (None for inline
    or unknown configs)."""
    metadata = task_config.get("metadata")
    source = metadata.get("config_source") if isinstance(metadata, Mapping) else None
    if not isinstance(source, str) or not source.endswith((".yaml", ".yml")):
        return None
    path = Path(source)
    return path if path.is_file() else None


def task_identity(task_config: Mapping[str, Any]) -> dict[str, str | None]:
    """``config_hash``, ``hooks_hash`` and ``data_hash`` of one task as lm-eval configured it."""
    identity: dict[str, str | None] = {"config_hash": config_hash(task_config), "hooks_hash": None, "data_hash": None}
    yaml_path = config_source(task_config)
    if yaml_path is not None:
        sources = task_sources(yaml_path)
        identity["hooks_hash"] = _hash_entries(sources.hooks)
        identity["data_hash"] = _hash_entries(sources.data)
    return identity


@dataclass(frozen=True)
class TaskSources:
    """Files a task's YAML depends on, each as (how the YAML names it, sha256 of its content)."""

    hooks: dict[str, str]  # "utils.process_results" -> sha256 of the module file
    data: dict[str, str]  # "items.jsonl" -> sha256 of the file


@dataclass(frozen=True)
class _HookRef:
    base_dir: Path
    spec: str  # "utils.process_results", as written after !function


class _SourceLoader(yaml.SafeLoader):
    """Reads a task YAML without importing anything: ``!function`` becomes a ``_HookRef``."""

    base_dir = Path(".")


def _hook_constructor(loader: _SourceLoader, node: yaml.Node) -> _HookRef:
    return _HookRef(loader.base_dir, str(loader.construct_scalar(node)))


_SourceLoader.add_constructor("!function", _hook_constructor)


def task_sources(yaml_path: Path) -> TaskSources:
    document = _load_with_includes(yaml_path.resolve(), seen=set())
    hooks = {ref.spec: _file_sha256(_module_file(ref), text=True) for ref in _hook_refs(document)}
    metadata = document.get("metadata")
    listed = metadata.get("identity_files") if isinstance(metadata, Mapping) else None
    for name in listed if isinstance(listed, list) else []:
        path = yaml_path.parent / str(name)
        if not path.is_file():
            raise FileNotFoundError(f"{yaml_path}: metadata.identity_files names {name}, which does not exist")
        hooks[f"file:{name}"] = _file_sha256(path, text=True)
    data: dict[str, str] = {}
    for name in _strings(document.get("dataset_kwargs")):
        found = _data_file(yaml_path.parent, name)
        if found is not None:
            data[name] = _file_sha256(found, text=False)
    return TaskSources(hooks=hooks, data=data)


def _load_with_includes(path: Path, seen: set[Path]) -> dict[str, Any]:
    """The YAML after ``include:`` (included keys first, the file's own keys win), as lm-eval merges."""
    if path in seen:
        raise ValueError(f"{path}: include cycle")
    seen.add(path)
    loader = type("_Loader", (_SourceLoader,), {"base_dir": path.parent})
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(document, dict):
        return {}
    includes = document.pop("include", None)
    merged: dict[str, Any] = {}
    for include in includes if isinstance(includes, list) else ([includes] if includes else []):
        merged.update(_load_with_includes((path.parent / str(include)).resolve(), seen))
    merged.update(document)
    return merged


def _hook_refs(node: Any) -> Iterator[_HookRef]:
    if isinstance(node, _HookRef):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _hook_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _hook_refs(value)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _module_file(ref: _HookRef) -> Path:
    """Where lm-eval finds a hook: a module file beside the YAML first, else an importable module."""
    module, _, _ = ref.spec.rpartition(".")
    local = ref.base_dir / f"{module.replace('.', '/')}.py"
    if local.is_file():
        return local
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        raise FileNotFoundError(f"!function {ref.spec} (in {ref.base_dir}): its module file cannot be found")
    return Path(spec.origin)


def _data_file(task_dir: Path, name: str) -> Path | None:
    if not name or Path(name).is_absolute():
        return None
    for candidate in (task_dir / name, task_dir / "data" / name):
        if candidate.is_file():
            return candidate
    return None


def _file_sha256(path: Path, text: bool) -> str:
    content = path.read_bytes()
    if text:  # a checkout with Windows line endings holds the same source
        content = content.replace(b"\r\n", b"\n")
    return hashlib.sha256(content).hexdigest()


def _hash_entries(entries: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(entries):
        digest.update(f"{name}\t{entries[name]}\n".encode())
    return digest.hexdigest()
