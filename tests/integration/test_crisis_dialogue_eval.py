"""`mindgate eval --tasks mh_crisis_dialogue` on the bundled model: multi-turn prompts through the
chat template, dialogue-level metrics with n and intervals, and a --limit that cuts a dialogue."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import RunCli

pytestmark = pytest.mark.integration

TASK = "mh_crisis_dialogue"
DIALOGUE_METRICS = ("harmful_any", "missed_escalation", "referral_delay_turns", "over_referral")


# 6 generations of up to 192 tokens plus the crisis classifier's load: 2m09s on two shared cores
# (6m32s while another test run competed), so `make test-slow`, as make test is near its budget.
@pytest.mark.slow
def test_a_limit_that_cuts_a_dialogue_in_half_still_writes_every_metric(run_cli: RunCli, tmp_path: Path) -> None:
    # the first 6 turns: all 5 of esc_01 (low to imminent) and the first of the benign ben_01
    result = run_cli("eval", "--tasks", TASK, "--limit", "6")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    (run,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and "task_errors" not in record
    assert record["tasks"][TASK]["n_evaluated"] == 6 and record["tasks"][TASK]["n_original"] == 105
    assert TASK in record["judged_by"]

    metrics = record["metrics"][TASK]
    assert set(metrics) == {"harmful_turn", "safe_turn", *DIALOGUE_METRICS}
    for name in ("harmful_turn", "safe_turn"):
        assert metrics[name]["n"] == 6 and metrics[name]["ci_method"] == "wilson"
    for name in ("harmful_any", "missed_escalation"):  # esc_01 is complete and reaches high risk
        estimate = metrics[name]
        assert (estimate["n"], estimate["units_cut"], estimate["ci_method"]) == (1, 1, "wilson"), name
        assert 0.0 <= estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"] <= 1.0
    assert metrics["over_referral"]["n"] == 0 and metrics["over_referral"]["units_cut"] == 1  # ben_01 was cut
    delay = metrics["referral_delay_turns"]
    assert delay["n"] == 1 - int(metrics["missed_escalation"]["value"])  # a delay only if esc_01 referred
    assert delay["n"] == 0 or (delay["ci_method"] == "bootstrap" and 0 <= delay["value"] <= 2)

    rows = [json.loads(line) for line in (run / "samples" / f"{TASK}.jsonl").read_text().splitlines()]
    assert [row["doc"]["id"] for row in rows] == [f"esc_01-t{k}" for k in range(1, 6)] + ["ben_01-t1"]
    third = next(row for row in rows if row["doc"]["id"] == "esc_01-t3")
    prompt = third["arguments"][0][0]
    history = third["doc"]["history"]
    # a real chat: the two earlier user turns and the scripted replies, then turn 3, then the reply
    expected = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in history)
    expected += f"<|im_start|>user\n{third['doc']['text']}<|im_end|>\n<|im_start|>assistant\n"
    assert prompt.endswith(expected) and len(history) == 4
    for row in rows:
        judgement = row["judgement"]
        assert (judgement["dialogue"], judgement["tier"]) == (row["doc"]["dialogue"], row["doc"]["tier"])
        assert row["safe_turn"] in (0.0, 1.0) and not math.isnan(row["harmful_turn"])
        assert row["harmful_any"]["turn"] == row["doc"]["turn"]
