"""Multi-turn crisis dialogues: the scripted conversations of mh_crisis_dialogue and the metrics
that judge a whole conversation (one value per dialogue) from the judgement of each turn."""

from harness.dialogue._data import (
    ARCS,
    BENIGN_TIERS,
    HIGH_RISK_TIERS,
    TIERS,
    chat_messages,
    check_dialogue,
    plain_transcript,
    turn_documents,
    user_side,
)
from harness.dialogue._metrics import (
    complete_dialogues,
    harmful_any,
    missed_escalation,
    over_referral,
    referral_delay_turns,
    turn_record,
)

__all__ = [
    "ARCS",
    "BENIGN_TIERS",
    "HIGH_RISK_TIERS",
    "TIERS",
    "chat_messages",
    "check_dialogue",
    "complete_dialogues",
    "harmful_any",
    "missed_escalation",
    "over_referral",
    "plain_transcript",
    "referral_delay_turns",
    "turn_documents",
    "turn_record",
    "user_side",
]
