"""What the guard decides: the user's risk tier, the reply's signals, the action, the safe reply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import MindgateError
from harness.guard._config import GuardRules
from harness.scoring.message_risk import MessageRisk, tier_rank

SEVERITY = {"pass": 0, "flag": 1, "block": 2}


class GuardSetupError(MindgateError):
    """The guard cannot start as configured (no verified crisis line for the locale, ...)."""


@dataclass(frozen=True)
class Decision:
    action: str  # pass | flag | block
    reasons: list[str]  # "signal@tier" for every rule that fired
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return self.action == "block"


def crisis_resources(rules: GuardRules) -> str:
    """The verified crisis lines of the configured locale, as a sentence."""
    from harness.scoring._hotlines import load_hotlines
    from harness.scoring.crisis import CRISIS_DIR

    lines = [
        line
        for line in load_hotlines(CRISIS_DIR / "hotlines.yaml").lines
        if line.country == rules.locale and line.verified
    ]
    if not lines:
        raise GuardSetupError(
            f"{rules.path}: field 'locale': {rules.locale!r} has no crisis line marked verified: true in "
            "rubrics/crisis/hotlines.yaml; choose a country with verified lines or verify one first"
        )
    parts = [f"{line.name}: {' or '.join(line.numbers)}" for line in lines]
    return "; ".join(parts) + "."


def _probability(signal: str, probabilities: dict[str, float]) -> float:
    """The classifier's probability of a signal: for harm, the highest of its harm items."""
    if signal == "harmful":
        return max((p for item, p in probabilities.items() if item.startswith("harm_")), default=0.0)
    return float(probabilities.get(signal, 0.0))


class GuardPolicy:
    """Loads the classifiers once; all methods are synchronous (run them off the event loop)."""

    def __init__(self, rules: GuardRules) -> None:
        from harness.scoring.crisis import default_crisis_scorer, load_crisis_scorer
        from harness.scoring.message_risk import default_message_risk

        self.rules = rules
        self.message_risk = default_message_risk()
        uses_classifier = "classifier" in rules.deciding_layers
        self.scorer = default_crisis_scorer() if uses_classifier else load_crisis_scorer()
        self.safe_reply = rules.safe_reply.replace("{resources}", crisis_resources(rules))

    def identity(self) -> dict[str, Any]:
        from harness.scoring.crisis import judgement_identity

        judgement = {**judgement_identity(), "layers": self.rules.deciding_layers}
        if "classifier" not in self.rules.deciding_layers:
            judgement["classifier_weights_sha256"] = None
        return {
            **self.rules.identity(),
            "message_classifier": self.message_risk.identity(),
            "reply_judgement": judgement,
        }

    def warm_up(self) -> None:
        """Load every model now, so the first request does not pay for it."""
        risk = self.assess(["hello"])
        self.check("hello", risk, "Hi there, how can I help?", final=True)

    def _layer_signals(self, layers: dict[str, Any], tier: str) -> Callable[..., bool]:
        """A reader of one signal as ``rules.reply_layers`` decides it: one layer, or either of
        the two (``any``: a forbidden signal counts if either layer finds it; a required one, such
        as a crisis referral, is present if either layer finds it). The classifier's signal is
        read at the guard's own threshold for the tier where ``classifier_thresholds`` sets one."""
        phrases = layers["patterns"]
        classifier = layers.get("classifier") or {}
        model = dict(classifier.get("signals") or {}) or None
        probabilities = classifier.get("probabilities") or {}
        if model is not None:
            for signal, by_tier in self.rules.classifier_thresholds.items():
                if tier in by_tier:
                    model[signal] = _probability(signal, probabilities) >= by_tier[tier]

        def read(signal: str, forbidden: bool = True) -> bool:
            mode = self.rules.reply_layers[signal]
            if mode == "phrases" or model is None:
                return bool(phrases[signal])
            if mode == "classifier":
                return bool(model[signal])
            return bool(phrases[signal]) or bool(model[signal])

        return read

    def assess(self, user_turns: Sequence[str]) -> MessageRisk:
        """The highest predicted tier over the last user turns (``rules.user_turns`` of them)."""
        turns = [turn for turn in user_turns if turn.strip()][-self.rules.user_turns :] or [""]
        risks = self.message_risk.predict(turns)
        return max(risks, key=lambda risk: (tier_rank(risk.tier), risk.at_least["moderate"]))

    def check(self, message: str, risk: MessageRisk, reply: str, final: bool) -> Decision:
        """The action for ``reply`` (so far, unless ``final``) to ``message`` at ``risk.tier``.
        Before the end only harm and dismissal are judged: a referral may still come."""
        tier = risk.tier
        score = self.scorer.score(reply, tier, message)
        layer = self._layer_signals(score.metadata["layers"], tier)
        signals = {"harmful": layer("harmful"), "dismissive": layer("dismissive")}
        if final:
            signals["missing_crisis_referral"] = not layer("refers_crisis", forbidden=False)
            signals["missing_acknowledgement"] = not layer("acknowledges", forbidden=False)
            signals["over_refusal"] = tier == "none" and layer("over_refusal")
        fired = [(s, self.rules.action(s, tier)) for s, present in signals.items() if present]
        fired = [(s, a) for s, a in fired if a != "pass"]
        action = max((a for _, a in fired), key=SEVERITY.__getitem__, default="pass")
        classifier = score.metadata["layers"]["classifier"]
        scores = {
            "message": risk.as_record(),
            "reply": {
                "signals": signals,
                "layers": dict(self.rules.reply_layers),
                "phrase_signals": score.metadata["layers"]["patterns"],
                "harm_categories": score.metadata["harm_categories"],
                "matched_phrases": score.metadata["matched_phrases"],
                "classifier": None if classifier is None else classifier.get("probabilities"),
            },
            "final": final,
            "reply_chars": len(reply),
        }
        return Decision(action, [f"{s}@{tier}" for s, _ in fired], scores)
