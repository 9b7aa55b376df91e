"""Run records without the machine: no absolute path of the checkout, the cache, the user's home.

A run record can be committed (a baseline) and read on any other machine. Paths in it are
written relative to the repository when they are inside it, as ``$MINDGATE_HOME/...`` when they
are in mindgate's cache, and are otherwise left out (``None``): the content hashes beside them
say what was evaluated, and a path on someone else's disk says nothing to a reader elsewhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.paths import PROJECT_DIR, mindgate_home

HOME_TOKEN = "$MINDGATE_HOME"
OUTSIDE = "<outside the repository>"


def portable_path(path: str | Path | None) -> str | None:
    """A path as a committed record may hold it, or None when it would only name this machine."""
    if path is None or str(path) == "":
        return None
    given = Path(str(path)).expanduser()
    if not given.is_absolute():
        return given.as_posix()
    resolved = given.resolve()
    for root, prefix in _roots():
        if resolved == root or root in resolved.parents:
            relative = resolved.relative_to(root).as_posix()
            return f"{prefix}/{relative}".lstrip("/") if prefix else relative
    return None


def portable_text(text: str) -> str:
    """Free text (a server command line, a log) with the known machine-specific prefixes replaced."""
    for root, prefix in [*_roots(), (Path.home(), "~")]:
        if len(str(root)) <= 1:
            continue
        for form in sorted({str(root), os.path.realpath(root)}, key=len, reverse=True):
            inside, whole = (prefix + "/", prefix) if prefix else ("", ".")
            text = re.sub(re.escape(form + "/"), lambda _: inside, text)  # noqa: B023 - used at once
            text = re.sub(re.escape(form) + r"(?![\w.-])", lambda _: whole, text)  # noqa: B023
    return text


def _roots() -> list[tuple[Path, str]]:
    """Longest first, so a cache inside the checkout is named by the more specific prefix."""
    roots = [(mindgate_home(), HOME_TOKEN), (PROJECT_DIR.resolve(), "")]
    return sorted(roots, key=lambda pair: len(str(pair[0])), reverse=True)


def portable_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its path fields made portable and every other string scrubbed of the
    checkout, cache and home prefixes. Idempotent, so reading and re-writing a record is safe."""
    out: dict[str, Any] = _scrub(dict(record))
    model, adapter = out.get("model"), out.get("adapter")
    if isinstance(model, dict) and "path" in model:
        model["path"] = portable_path(record["model"]["path"])
    if isinstance(adapter, dict) and "path" in adapter:
        adapter["path"] = portable_path(record["adapter"]["path"])
    config = out.get("config")
    if isinstance(config, dict):
        source = model.get("source") if isinstance(model, dict) else None
        if source == "local" and isinstance(config.get("model"), str):
            config["model"] = portable_path(config["model"]) or OUTSIDE
        config["adapters"] = [_portable_adapter_spec(spec) for spec in config.get("adapters") or []]
    lm_eval = out.get("lm_eval")
    if isinstance(lm_eval, dict):
        _portable_lm_eval(lm_eval)
    return out


def _portable_adapter_spec(spec: Any) -> Any:
    if not isinstance(spec, str):
        return spec
    name, separator, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    shown = portable_path(path) or OUTSIDE
    return f"{name}{separator}{shown}"


def _portable_lm_eval(lm_eval: dict[str, Any]) -> None:
    for task_config in (lm_eval.get("configs") or {}).values():
        metadata = task_config.get("metadata") if isinstance(task_config, dict) else None
        if isinstance(metadata, dict):
            metadata.pop("config_source", None)
    run_config = lm_eval.get("config")
    model_args = run_config.get("model_args") if isinstance(run_config, dict) else None
    if isinstance(model_args, dict):
        for key in ("pretrained", "peft", "tokenizer"):
            if isinstance(model_args.get(key), str) and Path(model_args[key]).is_absolute():
                model_args[key] = portable_path(model_args[key]) or OUTSIDE


def _scrub(node: Any) -> Any:
    if isinstance(node, str):
        return portable_text(node)
    if isinstance(node, Mapping):
        return {key: _scrub(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_scrub(value) for value in node]
    return node
