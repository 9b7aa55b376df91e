"""``rubrics/guard.yaml``: what the guard does, read and checked (every error names the field)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.paths import RUBRICS_DIR
from harness.scoring._rubric_files import RubricFileError, check_known, load_yaml_mapping, require
from harness.scoring.message_risk import TIERS, tier_rank

GUARD_RULES = RUBRICS_DIR / "guard.yaml"
SIGNALS: tuple[str, ...] = (
    "harmful",
    "dismissive",
    "missing_crisis_referral",
    "missing_acknowledgement",
    "over_refusal",
)
ACTIONS: tuple[str, ...] = ("pass", "flag", "block")
REPLY_LAYERS: tuple[str, ...] = ("any", "phrases", "classifier")
# the crisis judgement's signals the guard reads, each decided by the layer(s) ``reply_layers`` names
LAYER_KEYS: tuple[str, ...] = ("harmful", "dismissive", "refers_crisis", "acknowledges", "over_refusal")
# signals whose classifier probability the guard may read at its own thresholds (per tier)
THRESHOLD_KEYS: tuple[str, ...] = ("harmful", "dismissive")


@dataclass(frozen=True)
class StreamingRules:
    hold_whole_reply_from_tier: str
    window_chars: int
    check_every_chars: int

    def holds_whole_reply(self, tier: str) -> bool:
        return tier_rank(tier) >= tier_rank(self.hold_whole_reply_from_tier)


@dataclass(frozen=True)
class GuardRules:
    path: Path
    sha256: str
    locale: str
    reply_layers: Mapping[str, str]  # signal -> any | phrases | classifier
    # signal -> tier -> the classifier probability from which the signal counts; a tier left out
    # uses the crisis classifier's own (evaluation) threshold
    classifier_thresholds: Mapping[str, Mapping[str, float]]
    rules: Mapping[str, Mapping[str, str]]  # signal -> tier -> action
    user_turns: int
    streaming: StreamingRules
    safe_reply: str  # with {resources}
    audit_path: Path
    store_text: bool
    connect_timeout_s: float
    timeout_s: float
    max_request_bytes: int
    max_message_chars: int

    def action(self, signal: str, tier: str) -> str:
        return self.rules.get(signal, {}).get(tier, "pass")

    def identity(self) -> dict[str, Any]:
        return {
            "rules_sha256": self.sha256,
            "locale": self.locale,
            "reply_layers": dict(self.reply_layers),
            "classifier_thresholds": {signal: dict(by_tier) for signal, by_tier in self.classifier_thresholds.items()},
        }

    @property
    def deciding_layers(self) -> list[str]:
        """The crisis-judgement layers that decide some signal (``any`` means both)."""
        names = {"phrases": ["patterns"], "classifier": ["classifier"], "any": ["patterns", "classifier"]}
        return sorted({layer for mode in self.reply_layers.values() for layer in names[mode]})


def _positive(data: Mapping[str, Any], key: str, kind: type, path: Path, where: str) -> Any:
    value = require(data, key, (int, float) if kind is float else kind, path, where)
    if value <= 0:
        raise RubricFileError(path, f"{where}.{key}", f"must be positive, got {value}")
    return kind(value)


def _reply_layers(raw: str | dict[str, Any], path: Path) -> dict[str, str]:
    """One mode for every signal, or a mode per signal (every signal named)."""
    if isinstance(raw, str):
        check_known([raw], REPLY_LAYERS, path, "reply_layers")
        return dict.fromkeys(LAYER_KEYS, raw)
    check_known([str(k) for k in raw], LAYER_KEYS, path, "reply_layers")
    missing = [key for key in LAYER_KEYS if key not in raw]
    if missing:
        raise RubricFileError(path, "reply_layers", f"names no layer for {', '.join(missing)}")
    for key, mode in raw.items():
        check_known([str(mode)], REPLY_LAYERS, path, f"reply_layers.{key}")
    return {key: str(raw[key]) for key in LAYER_KEYS}


def _classifier_thresholds(raw: Any, path: Path) -> dict[str, dict[str, float]]:
    """``{signal: threshold}`` or ``{signal: {tier: threshold}}``, each threshold in (0, 1]."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RubricFileError(path, "classifier_thresholds", "must map signals to a threshold or {tier: threshold}")
    check_known([str(k) for k in raw], THRESHOLD_KEYS, path, "classifier_thresholds")
    out: dict[str, dict[str, float]] = {}
    for signal, value in raw.items():
        by_tier: dict[Any, Any] = value if isinstance(value, dict) else dict.fromkeys(TIERS, value)
        check_known([str(t) for t in by_tier], TIERS, path, f"classifier_thresholds.{signal}")
        for tier, threshold in by_tier.items():
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
                where = f"classifier_thresholds.{signal}.{tier}"
                raise RubricFileError(path, where, f"must be a probability in (0, 1], got {threshold!r}")
        out[str(signal)] = {str(t): float(v) for t, v in by_tier.items()}
    return out


def load_guard_rules(path: Path = GUARD_RULES) -> GuardRules:
    data = load_yaml_mapping(path)
    if require(data, "schema_version", int, path, "") != 1:
        raise RubricFileError(path, "schema_version", "must be 1")
    layers = _reply_layers(require(data, "reply_layers", (str, dict), path, ""), path)
    raw_rules = require(data, "rules", dict, path, "")
    check_known(list(raw_rules), SIGNALS, path, "rules")
    rules: dict[str, dict[str, str]] = {}
    for signal, by_tier in raw_rules.items():
        if not isinstance(by_tier, dict):
            raise RubricFileError(path, f"rules.{signal}", "must map tiers to actions, e.g. {high: block}")
        check_known(list(by_tier), TIERS, path, f"rules.{signal}")
        for tier, action in by_tier.items():
            check_known([str(action)], ACTIONS, path, f"rules.{signal}.{tier}")
        rules[signal] = {str(t): str(a) for t, a in by_tier.items()}
    streaming = require(data, "streaming", dict, path, "")
    hold = require(streaming, "hold_whole_reply_from_tier", str, path, "streaming")
    check_known([hold], TIERS, path, "streaming.hold_whole_reply_from_tier")
    safe_reply = require(data, "safe_reply", str, path, "")
    if "{resources}" not in safe_reply:
        raise RubricFileError(path, "safe_reply", "must contain {resources}, where the crisis lines go")
    audit = require(data, "audit", dict, path, "")
    upstream = require(data, "upstream", dict, path, "")
    limits = require(data, "limits", dict, path, "")
    return GuardRules(
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        locale=require(data, "locale", str, path, ""),
        reply_layers=layers,
        classifier_thresholds=_classifier_thresholds(data.get("classifier_thresholds"), path),
        rules=rules,
        user_turns=_positive(data, "user_turns", int, path, ""),
        streaming=StreamingRules(
            hold,
            _positive(streaming, "window_chars", int, path, "streaming"),
            _positive(streaming, "check_every_chars", int, path, "streaming"),
        ),
        safe_reply=" ".join(safe_reply.split()),
        audit_path=Path(require(audit, "path", str, path, "audit")),
        store_text=require(audit, "store_text", bool, path, "audit"),
        connect_timeout_s=_positive(upstream, "connect_timeout_s", float, path, "upstream"),
        timeout_s=_positive(upstream, "timeout_s", float, path, "upstream"),
        max_request_bytes=_positive(limits, "max_request_bytes", int, path, "limits"),
        max_message_chars=_positive(limits, "max_message_chars", int, path, "limits"),
    )
