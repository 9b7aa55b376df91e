"""Turn what the user typed after ``--model`` into a local model directory with a content hash."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ModelNotFoundError
from harness.models._bundled import DEFAULT_MODEL_NAME, ensure_default_model
from harness.models._hashing import directory_hash

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ResolvedModel:
    """A base model ready to load: where it is, what it is, and where it came from."""

    spec: str  # what the user asked for
    name: str  # a short display name
    path: Path
    content_hash: str
    source: str  # "bundled" | "local" | "hub"


def resolve_model(spec: str) -> ResolvedModel:
    if spec in (DEFAULT_MODEL_NAME, "default"):
        bundled = ensure_default_model()
        return ResolvedModel(spec, DEFAULT_MODEL_NAME, bundled.path, bundled.content_hash, "bundled")
    path = Path(spec).expanduser()
    if path.exists() or _looks_like_path(spec):
        return _resolve_local(spec, path)
    if _HUB_ID.match(spec):
        return _resolve_hub(spec)
    raise ModelNotFoundError(
        f"--model {spec!r} is neither the bundled {DEFAULT_MODEL_NAME!r}, an existing directory, "
        "nor a hub id of the form owner/name"
    )


def _looks_like_path(spec: str) -> bool:
    # A hub id has exactly one slash and no leading ./ or /; anything else is meant as a path.
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1


def _resolve_local(spec: str, path: Path) -> ResolvedModel:
    if not path.is_dir():
        raise ModelNotFoundError(f"--model {spec!r}: no such directory ({path.resolve()})")
    if not (path / "config.json").is_file():
        hint = (
            " (this looks like a LoRA adapter: pass it with --adapter)"
            if (path / "adapter_config.json").is_file()
            else ""
        )
        raise ModelNotFoundError(
            f"--model {spec!r}: {path.resolve()} has no config.json, so it is not a Hugging Face model directory{hint}"
        )
    resolved = path.resolve()
    return ResolvedModel(spec, resolved.name, resolved, directory_hash(resolved), "local")


def _resolve_hub(repo_id: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        local = snapshot_download(repo_id, local_files_only=offline)
    except LocalEntryNotFoundError as exc:
        where = (
            "HF_HUB_OFFLINE=1 is set and it is not in the local Hugging Face cache"
            if offline
            else ("it could not be downloaded (no connection to the hub?)")
        )
        raise ModelNotFoundError(
            f"--model {repo_id!r}: {where}. Download it where a hub is reachable and pass the local "
            f"directory, or use the bundled model {DEFAULT_MODEL_NAME!r}"
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ModelNotFoundError(f"--model {repo_id!r}: the hub did not provide it ({exc})") from exc
    path = Path(local)
    return ResolvedModel(repo_id, repo_id, path, directory_hash(path), "hub")
