"""``evaluate_gate``: may this candidate run ship in place of the baseline run?

Order matters for the explanation, not for the arithmetic: floors are judged first, and a failed
floor rejects the candidate whatever the comparisons show, so that skill cannot buy back safety.
Acceptance needs every blocking rule to pass. That is an intersection-union test: each rule is
checked at its own 95% level (one-sided 97.5% for the bound that matters) and no multiplicity
correction is needed, since accepting wrongly requires every one of them to be wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.compare import paired_bootstrap_ci
from harness.gate._agreement import agreement_notes
from harness.gate._evidence import judge_comparison, judge_floor
from harness.gate._rules import DEFAULT_RULES_PATH, load_rules
from harness.gate._runs import (
    GateInputError,
    check_complete_items,
    check_completed,
    check_direction,
    check_distinct,
    check_doc_hashes,
    check_same_items,
    leaf_tasks,
    paired_units,
    record_path,
    stored_estimate,
)
from harness.gate._schema import ComparisonRule, FloorRule, GateRules, Rule
from harness.gate._types import GateDecision, PairedEvidence, RuleResult
from harness.store import StoredRun, Verdict, read_run

_OBSERVED_KIND = {"wilson": "binary", "bootstrap": "continuous"}


def evaluate_gate(
    candidate_dir: Path | str, baseline_dir: Path | str, rules_path: Path | str = DEFAULT_RULES_PATH, seed: int = 0
) -> GateDecision:
    """Judge every rule of ``rules_path`` on the two runs. Unusable inputs raise an error with
    exit code 2 (``GateRulesError``, ``GateInputError``, ``IncomparableRunsError``)."""
    rules = load_rules(rules_path)
    candidate, baseline = read_run(candidate_dir), read_run(baseline_dir)
    check_distinct(candidate, baseline)
    check_completed(candidate, "candidate")
    check_completed(baseline, "baseline")
    ordered: list[Rule] = [rule for rule in rules.rules if isinstance(rule, FloorRule)]
    ordered += [rule for rule in rules.rules if not isinstance(rule, FloorRule)]
    for role, run in (("candidate", candidate), ("baseline", baseline)):
        _refuse_a_judgement_that_is_not_independent(run, role, ordered, rules.path)
    results = tuple(_judge(rule, candidate, baseline, rules, seed) for rule in ordered)
    verdict, reasons = _verdict(results)
    return GateDecision(
        candidate_run_id=candidate.run_id,
        baseline_run_id=baseline.run_id,
        candidate_dir=str(candidate.run_dir),
        baseline_dir=str(baseline.run_dir),
        rules_path=str(rules.path),
        rules_sha256=rules.sha256,
        results=results,
        verdict=verdict,
        reasons=tuple(reasons),
        warnings=tuple(_warnings(candidate, baseline, results)),
        notes=tuple(agreement_notes(rules, results)),
    )


def _refuse_a_judgement_that_is_not_independent(run: StoredRun, role: str, rules: list[Rule], rules_path: Path) -> None:
    """A guarded endpoint's crisis metrics judged by the layer that guarded it prove nothing: the
    guard passed exactly what that layer calls safe. No rule may use them."""
    judged = run.record.get("judged_by") or {}
    for rule in rules:
        for leaf in leaf_tasks(run, rule.task) or []:
            entry = judged.get(leaf) or {}
            if entry.get("independent_of_guard") is not False:
                continue
            metrics = entry.get("metrics")
            if metrics == "all" or rule.metric in (metrics or []):
                why = entry.get("why_not_independent", "the guard and the judge share a layer")
                raise GateInputError(
                    f"{rules_path}: {rule.label}: the {role} run {record_path(run)} is not independently judged on "
                    f"{leaf}.{rule.metric}: {why}. "
                    "Run the guard with a layer the suite does not decide with (rubrics/guard.yaml reply_layers: "
                    "classifier, while the suite's crisis judgement decides with the phrase layer), then evaluate again"
                )


def _judge(rule: Rule, candidate: StoredRun, baseline: StoredRun, rules: GateRules, seed: int) -> RuleResult:
    runs = {"candidate": candidate} if isinstance(rule, FloorRule) else {"candidate": candidate, "baseline": baseline}
    missing = {role: what for role, run in runs.items() if (what := _missing(rule, run))}
    if missing:
        if rule.optional:
            _refuse_a_candidate_that_skips_what_its_baseline_has(rule, candidate, baseline, missing, rules.path)
            roles = " and ".join(missing)
            what = next(iter(missing.values()))
            evidence = f"Not applicable (optional rule): {what} is not in the {roles} run{'s' * (len(missing) > 1)}."
            return RuleResult(rule, "not_applicable", evidence, None)
        details = "; ".join(
            f"{what} is not in the {role} run {record_path(runs[role])} (its tasks: "
            f"{', '.join(sorted(runs[role].samples))})"
            for role, what in missing.items()
        )
        raise GateInputError(
            f"{rules.path}: {rule.label}: {details}. Evaluate the run(s) on {rule.task}, or mark the rule "
            "optional: true if it may be skipped"
        )
    leaves = leaf_tasks(candidate, rule.task) or []
    for role, run in runs.items():
        check_direction(run, rule, rules.path)
        if not rules.allow_partial_runs:
            check_complete_items(run, leaves, role)
    if isinstance(rule, FloorRule):
        return _judge_floor(rule, candidate, rules.path)
    return _judge_comparison(rule, candidate, baseline, leaves, rules, seed)


def _refuse_a_candidate_that_skips_what_its_baseline_has(
    rule: Rule, candidate: StoredRun, baseline: StoredRun, missing: dict[str, str], rules_path: Path
) -> None:
    """An optional rule is skipped only when the baseline lacks its task too: otherwise leaving a
    task out of the candidate's run (say mh_toxicity) would skip the floor that task feeds."""
    if "candidate" not in missing or _missing(rule, baseline) is not None:
        return
    raise GateInputError(
        f"{rules_path}: {rule.label}: {missing['candidate']} is not in the candidate run {record_path(candidate)} "
        f"but is in the baseline run {record_path(baseline)}. An optional rule is skipped only when neither run "
        f"has it: evaluate the candidate on {rule.task} too"
    )


def _missing(rule: Rule, run: StoredRun) -> str | None:
    """What the run lacks for this rule ("task X", "metric M of X"), or None."""
    leaves = leaf_tasks(run, rule.task)
    if leaves is None:
        return f"task {rule.task}"
    if isinstance(rule, FloorRule):
        return None if stored_estimate(run, rule.task, rule.metric) is not None else f"metric {rule.target}"
    logged = (run.record.get("metrics") or {}).get
    lacking = [leaf for leaf in leaves if rule.metric not in (logged(leaf) or {})]
    return f"metric {rule.metric} of {', '.join(lacking)}" if lacking else None


def _judge_floor(rule: FloorRule, candidate: StoredRun, rules_path: Path) -> RuleResult:
    estimate = stored_estimate(candidate, rule.task, rule.metric)
    assert estimate is not None  # _missing has ruled this out
    observed = _OBSERVED_KIND.get(estimate.ci_method, "continuous")
    _check_kind(rule, observed, f"{record_path(candidate)} stores it with a {estimate.ci_method} interval", rules_path)
    return judge_floor(rule, estimate)


def _judge_comparison(
    rule: ComparisonRule, candidate: StoredRun, baseline: StoredRun, leaves: list[str], rules: GateRules, seed: int
) -> RuleResult:
    check_same_items(candidate, baseline, rule.task, leaves, partial=rules.allow_partial_runs)
    check_doc_hashes(candidate, baseline, leaves, partial=rules.allow_partial_runs)
    units = paired_units(candidate, baseline, leaves, rule.metric)
    _check_kind(rule, units.observed_kind, "its per-item values are not all 0 or 1", rules.path)
    ci_low, ci_high = paired_bootstrap_ci(units.baseline, units.candidate, seed=seed)
    numbers = PairedEvidence(
        n=int(units.candidate.size),
        baseline_mean=float(units.baseline.mean()),
        candidate_mean=float(units.candidate.mean()),
        difference=float(np.mean(units.candidate - units.baseline)),
        ci_low=ci_low,
        ci_high=ci_high,
        observed_kind=units.observed_kind,
        one_sided=units.one_sided,
    )
    return judge_comparison(rule, numbers)


def _check_kind(rule: Rule, observed: str, how: str, rules_path: Path) -> None:
    """A rule written for a proportion has limits in proportion points; if the metric has become
    a score on another scale, those limits no longer mean what their comments say."""
    if rule.kind == "binary" and observed != "binary":
        raise GateInputError(
            f"{rules_path}: {rule.label}: field 'kind' is binary but {rule.target} is a continuous score ({how}); "
            "set kind: continuous and restate the rule's limits on the metric's scale"
        )


def _verdict(results: tuple[RuleResult, ...]) -> tuple[Verdict, list[str]]:
    floor_failures = [r for r in results if r.rejects and r.rule.type == "floor"]
    other_failures = [r for r in results if r.rejects and r.rule.type != "floor"]
    reasons = [
        f"floor {r.rule.id} failed ({r.rule.target}): a floor failure rejects whatever the comparisons show"
        for r in floor_failures
    ]
    reasons += [f"{r.rule.type} rule {r.rule.id} failed ({r.rule.target})" for r in other_failures]
    if reasons:
        return "reject", reasons
    decided = [r for r in results if r.rule.blocking and r.verdict == "pass"]
    if not decided:
        return "reject", [
            "no blocking rule could be evaluated (all were not applicable): there is no evidence to accept"
        ]
    skipped = sum(r.verdict == "not_applicable" for r in results)
    missed = [r.rule.id for r in results if r.verdict == "fail"]  # non-blocking targets only, by now
    reasons = [f"all {len(decided)} blocking rules passed"]
    if skipped:
        reasons.append(f"{skipped} optional rule(s) not applicable")
    if missed:
        reasons.append(f"targets not met (not blocking): {', '.join(missed)}")
    return "accept", reasons


def _warnings(candidate: StoredRun, baseline: StoredRun, results: tuple[RuleResult, ...]) -> list[str]:
    warnings = [
        f"{r.rule.id}: {r.numbers.one_sided} units are in the metric's denominator in one run only and were left out"
        for r in results
        if isinstance(r.numbers, PairedEvidence) and r.numbers.one_sided
    ]
    weights = _weights(candidate)
    if weights[0] is not None and weights == _weights(baseline):
        warnings.append(
            "candidate and baseline have the same model and adapter weights: their differences come from "
            "settings or chance, not from training"
        )
    return warnings


def _weights(run: StoredRun) -> tuple[str | None, str | None]:
    """(model content hash, adapter content hash): what a run actually evaluated."""
    model = run.record.get("model") or {}
    adapter = run.record.get("adapter") or {}
    return model.get("content_hash"), adapter.get("content_hash")
