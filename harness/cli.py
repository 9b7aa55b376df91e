"""The ``mindgate`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Offline by design: set before anything imports huggingface_hub. A user with a reachable hub
# can opt in with HF_HUB_OFFLINE=0.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402

from harness.errors import MindgateError  # noqa: E402
from harness.paths import REPORTS_DIR  # noqa: E402
from harness.run import EvalConfig  # noqa: E402

_TUPLE_FIELDS = {"tasks": ",", "adapters": None}  # tasks: comma-separated; adapters: repeated flag


_SERVE_FIELDS: tuple[str, ...] = (
    *("model", "adapters", "port", "max_loras", "max_lora_rank", "max_model_len"),
    *("dtype", "device", "server_start_timeout"),
)


def _add_config_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Every EvalConfig field becomes a flag, with the field's help text: one schema, two faces."""
    hints = typing.get_type_hints(EvalConfig)
    for f in dataclasses.fields(EvalConfig):
        if only is not None and f.name not in only:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if f.name == "adapters":
            parser.add_argument("--adapter", dest="adapters", action="append", help=help_text)
        elif f.name == "tasks":
            parser.add_argument(flag, help=f"{help_text} (default: {','.join(EvalConfig().tasks)})")
        elif hints[f.name] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            shown = "" if f.default is None else f" (default: {f.default})"
            parser.add_argument(flag, type=_scalar_type(hints[f.name]), help=help_text + shown)


def _scalar_type(hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(EvalConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.name == "tasks":
            value = tuple(name.strip() for name in value.split(",") if name.strip())
        elif f.name == "adapters":
            value = tuple(value)
        overrides[f.name] = value
    return EvalConfig(**overrides)


def _cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from harness.run import evaluate

    incomplete = [run_dir for run_dir in evaluate(config_from_args(args), console=console) if _incomplete(run_dir)]
    for run_dir in incomplete:
        console.print(
            f"[bold red]incomplete run[/bold red] written to {escape(str(run_dir))}: some tasks failed (above); "
            "the others are kept",
            soft_wrap=True,
        )
    return 1 if incomplete else 0


def _incomplete(run_dir: Path) -> bool:
    from harness.run import load_run

    return load_run(run_dir).get("status") != "completed"


def _cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from harness.run import serve

    serve(config_from_args(args), console=console)
    return 0


def _cmd_tasks(args: argparse.Namespace, console: Console) -> int:
    from harness.run import project_tasks

    for name in project_tasks():
        print(name)
    return 0


def _cmd_model(args: argparse.Namespace, console: Console) -> int:
    from harness.models import resolve_model

    model = resolve_model(args.model)
    print(f"{model.path}\t{model.content_hash}\t{model.source}")
    return 0


def _run_dir(reference: str) -> Path:
    """A run directory given as a path, a run id under the runs folder, or a baseline name."""
    from harness.paths import baselines_dir, runs_dir

    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    for folder in (runs_dir(), baselines_dir()):
        if (folder / reference).is_dir():
            return folder / reference
    raise MindgateError(
        f"no run {reference!r}: neither a directory, nor a run id under {runs_dir()}, nor a baseline under "
        f"{baselines_dir()}"
    )


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from harness.compare import compare_runs, print_comparison

    comparison = compare_runs(_run_dir(args.run_a), _run_dir(args.run_b), margin=args.margin, alpha=args.alpha)
    if args.json:
        print(json.dumps(comparison.as_record(), indent=2))
    else:
        print_comparison(Console(), comparison)
    return 0


def _cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from harness.paths import runs_dir
    from harness.store import leaderboard, leaderboard_csv, leaderboard_json, print_leaderboard, rebuild

    if args.rebuild:
        report = rebuild(args.db, runs_dir())
        console.print(
            f"rebuilt from {escape(str(runs_dir()))}: {len(report.indexed)} run(s) indexed, "
            f"{len(report.removed)} no longer on disk removed, {len(report.skipped)} unreadable skipped, "
            f"{report.verdicts_restored} verdict(s) restored from verdict files"
        )
        for run_dir, reason in report.skipped:
            console.print(f"  skipped {escape(str(run_dir))}: {escape(reason)}")
    rows = leaderboard(args.db, base=args.base, task=args.task)
    if args.format == "csv":
        print(leaderboard_csv(rows), end="")
    elif args.format == "json":
        print(leaderboard_json(rows))
    elif rows:
        print_leaderboard(rows)
    else:
        which = " matching --base/--task" if args.base or args.task else ""
        console.print(f"no results: no completed run{which} is indexed (--rebuild indexes {runs_dir()})")
    return 0


def _cmd_gate(args: argparse.Namespace, console: Console) -> int:
    from harness.gate import DEFAULT_RULES_PATH, evaluate_gate

    rules = args.rules or DEFAULT_RULES_PATH
    evaluates = args.model is not None or bool(args.adapters)
    if (args.candidate is None) == (not evaluates):
        raise MindgateError(
            "mindgate gate: give either --candidate RUN (judge a finished run) or --model M [--adapter A] "
            "(evaluate the candidate as the rules need, floors first, and judge it)"
        )
    if args.candidate is not None:
        decision = evaluate_gate(_run_dir(args.candidate), _run_dir(args.baseline), rules)
        return _report_decision(decision, console, args.db)
    from harness.gate import gate_evaluate

    gated = gate_evaluate(config_from_args(args), _run_dir(args.baseline), rules, console, chunk_size=args.chunk_size)
    if gated.stopped:
        console.print(
            f"[bold red]stopped early[/bold red]: the partial run is kept in {escape(str(gated.run_dir))} "
            "(status stopped_by_gate; running the same command again resumes from the request cache)",
            soft_wrap=True,
        )
    return _report_decision(gated.decision, console, args.db)


def _report_decision(decision: Any, console: Console, db: Path | None) -> int:
    """Print a gate decision, store it in the candidate's run directory and the database, and
    return its exit code."""
    from harness.gate import decision_table, decision_text
    from harness.gate.verdicts import store_decision

    out = Console()
    if out.is_terminal:
        out.print(decision_table(decision))
    else:  # a CI log or a pipe: a table squeezed to 80 columns would be one word per line
        print(decision_text(decision), end="", flush=True)
    store_decision(decision, console, db)
    verdict = "[bold green]ACCEPT[/bold green]" if decision.exit_code == 0 else "[bold red]REJECT[/bold red]"
    console.print(f"gate: {verdict} {decision.candidate_run_id} against {decision.baseline_run_id}", soft_wrap=True)
    return int(decision.exit_code)


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from harness.gate import DEFAULT_RULES_PATH
    from harness.report import build_report

    if args.samples < 0:
        raise MindgateError(f"--samples {args.samples}: the number of worst samples per task cannot be negative")
    baseline = _run_dir(args.baseline) if args.baseline else None
    path = build_report(
        [_run_dir(reference) for reference in args.runs],
        baseline_dir=baseline,
        out=args.out,
        rules_path=args.rules or DEFAULT_RULES_PATH,
        samples_per_task=args.samples,
    )
    print(path)
    return 0


def _cmd_curate(args: argparse.Namespace, console: Console) -> int:
    from harness.curate.pipeline import CurationConfig, curate
    from harness.curate.records import ColumnSpec

    where: dict[str, str] = {}
    for condition in args.where or []:
        column, sep, value = condition.partition("=")
        if not sep or not column:
            console.print(f"[bold red]error:[/bold red] --where {condition!r}: expected COLUMN=VALUE", highlight=False)
            return 2
        where[column] = value
    spec = ColumnSpec(
        kind=args.kind,
        prompt=args.prompt,
        response=args.response,
        chosen=args.chosen,
        rejected=args.rejected,
        messages=args.messages,
        id=args.id,
    )
    config = CurationConfig(
        pii_engine=args.pii_engine,
        near_duplicate_threshold=args.near_duplicate_threshold,
        ngram=args.ngram,
        toxicity_filter=args.toxicity_filter,
        crisis_filter=args.crisis_filter,
        decontaminate=args.decontaminate,
        dedup=args.dedup,
    )
    result = curate(args.input, spec, args.out, config, console=console, force=args.force, where=where)
    removed = ", ".join(f"{reason} {count}" for reason, count in result.removed_by_reason.items() if count) or "none"
    print(f"curated: kept {result.rows_kept} of {result.rows_in} rows (removed: {removed})")
    print(f"curated data: {args.out / 'curated.jsonl'}")
    print(f"report: {args.out / 'curation.md'}")
    return 0


def _add_curate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.curate.pii import ENGINES
    from harness.curate.pipeline import CurationConfig
    from harness.curate.records import KINDS

    parser = commands.add_parser(
        "curate",
        help="scrub personal data, remove toxic and harmful targets, suite items and duplicates from training data",
        description="Curate a JSONL or CSV file before training on it. Example (CounselChat's train split): "
        "mindgate curate counsel_chat.csv --kind sft --prompt questionText --response answerText "
        "--where split=train --id questionID --out data/curated/counselchat-train",
    )
    parser.add_argument("input", type=Path, help="a .jsonl, .csv or .tsv file with named columns")
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory (curated.jsonl, removed.jsonl, curation.json/.md)"
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="sft",
        help="sft: prompt + response; preference: prompt + chosen + rejected; chat: a list of messages",
    )
    parser.add_argument("--prompt", help="column of the user's text (default: prompt)")
    parser.add_argument("--response", help="sft: column of the reply to learn (default: response)")
    parser.add_argument("--chosen", help="preference: column of the preferred reply (default: chosen)")
    parser.add_argument("--rejected", help="preference: column of the rejected reply (default: rejected)")
    parser.add_argument("--messages", help="chat: column holding [{role, content}, ...] (default: messages)")
    parser.add_argument("--id", help="column naming each row in the report (default: the row number)")
    parser.add_argument(
        "--where", action="append", metavar="COLUMN=VALUE", help="keep only rows with this value (repeatable)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing curation in --out")
    defaults = CurationConfig()
    fields = {f.name: f for f in dataclasses.fields(CurationConfig)}
    parser.add_argument(
        "--pii-engine", choices=ENGINES, default=defaults.pii_engine, help=fields["pii_engine"].metadata["help"]
    )
    parser.add_argument(
        "--near-duplicate-threshold",
        type=float,
        default=defaults.near_duplicate_threshold,
        help=fields["near_duplicate_threshold"].metadata["help"] + f" (default: {defaults.near_duplicate_threshold})",
    )
    parser.add_argument(
        "--ngram",
        type=int,
        default=defaults.ngram,
        help=fields["ngram"].metadata["help"] + f" (default: {defaults.ngram})",
    )
    for name in ("toxicity_filter", "crisis_filter", "decontaminate", "dedup"):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            action=argparse.BooleanOptionalAction,
            default=True,
            help=fields[name].metadata["help"],
        )
    parser.set_defaults(handler=_cmd_curate)


def _cmd_train(args: argparse.Namespace, console: Console) -> int:
    from harness.train import (
        DPOTrainConfig,
        RewardTrainConfig,
        RLTrainConfig,
        SFTTrainConfig,
        load_config,
        train_dpo,
        train_reward,
        train_rl,
        train_sft,
    )

    trainers: dict[str, tuple[Any, Any]] = {
        "sft": (SFTTrainConfig, train_sft),
        "dpo": (DPOTrainConfig, train_dpo),
        "reward": (RewardTrainConfig, train_reward),
        "rl": (RLTrainConfig, train_rl),
        "ppo": (RLTrainConfig, train_rl),
    }
    cls, train = trainers[args.trainer]
    overrides = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
    if args.trainer == "ppo":
        overrides["algorithm"] = "ppo"
    config = load_config(cls, args.config, overrides)
    result = train(config, console)
    if set(result.record) == {"distributed"}:  # a rank other than 0 of a distributed run
        return 0
    print(f"{'reward model' if args.trainer == 'reward' else 'adapter'}: {result.adapter_dir}")
    if result.gate_exit_code is None:
        print("gate: not run (gate: false)")
        return 0
    what = "held-out accuracy" if args.trainer == "reward" else "gate"
    print(f"{what}: {'ACCEPTED' if result.gate_exit_code == 0 else 'REJECTED (kept, marked in gate.json)'}")
    return result.gate_exit_code


def _add_train_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.train import DPOTrainConfig, RewardTrainConfig, RLTrainConfig, SFTTrainConfig, add_arguments

    train_parser = commands.add_parser("train", help="train a LoRA adapter on curated data; it ends at the gate")
    trainers = train_parser.add_subparsers(dest="trainer", required=True)
    sft = trainers.add_parser(
        "sft",
        help="LoRA supervised fine-tuning (TRL SFTTrainer), loss on the reply only",
        description="Example: mindgate train sft --config trainers/configs/sft.yaml --max-steps 20. Exit 0: the "
        "adapter was accepted by the gate; 1: rejected (kept, marked in its gate.json); 2: unusable input.",
    )
    sft.add_argument("--config", type=Path, default=None, help="YAML file of the fields below")
    add_arguments(sft, SFTTrainConfig)
    sft.set_defaults(handler=_cmd_train)
    dpo = trainers.add_parser(
        "dpo",
        help="LoRA DPO (TRL DPOTrainer) on curated preference pairs, on the base or an accepted adapter",
        description="Example: mindgate train dpo --config trainers/configs/dpo.yaml --parent-adapter "
        "reports/adapters/sft-counselchat. Exit 0: accepted by the gate; 1: rejected (kept, marked); "
        "2: unusable input.",
    )
    dpo.add_argument("--config", type=Path, default=None, help="YAML file of the fields below")
    add_arguments(dpo, DPOTrainConfig)
    dpo.set_defaults(handler=_cmd_train)
    reward = trainers.add_parser(
        "reward",
        help="a reward (helpfulness) or safety-cost model (TRL RewardTrainer, LoRA + score head) on curated pairs",
        description="Example: mindgate train reward --config trainers/configs/reward-safety.yaml. Exit 0: its "
        "held-out pairwise accuracy beats chance (accepted); 1: it does not (kept, marked in gate.json); "
        "2: unusable input.",
    )
    reward.add_argument("--config", type=Path, default=None, help="YAML file of the fields below")
    add_arguments(reward, RewardTrainConfig)
    reward.set_defaults(handler=_cmd_train)
    rl = trainers.add_parser(
        "rl",
        help="online RL (TRL GRPO or RLOO) against a reward model, with a safety cost under a limit (Lagrangian)",
        description="Example: mindgate train rl --config trainers/configs/rl.yaml --algorithm rloo --max-steps 10. "
        "Exit 0: accepted by the gate; 1: rejected, or stopped (lambda diverged, KL exploded; the adapter is kept "
        "and marked); 2: unusable input.",
    )
    rl.add_argument("--config", type=Path, default=None, help="YAML file of the fields below")
    add_arguments(rl, RLTrainConfig)
    rl.set_defaults(handler=_cmd_train)
    ppo = trainers.add_parser(
        "ppo",
        help="PPO (TRL's experimental PPOTrainer) against the same reward and cost: `train rl --algorithm ppo`",
        description="Example: mindgate train ppo --config trainers/configs/rl.yaml --max-steps 10. Exit codes as "
        "for `train rl`. TRL's PPO cannot resume: an interrupted run starts again.",
    )
    ppo.add_argument("--config", type=Path, default=None, help="YAML file of the fields below")
    add_arguments(ppo, RLTrainConfig)
    ppo.set_defaults(handler=_cmd_train)


def _cmd_pipeline(args: argparse.Namespace, console: Console) -> int:
    from harness.train._pipeline import load_pipeline, run_pipeline

    result = run_pipeline(load_pipeline(args.config), console, tuple(args.rerun or ()))
    for outcome in result.outcomes:
        print(f"{outcome.name}: {outcome.status} ({outcome.output})")
    print(f"pipeline state: {result.state_path}")
    print(f"pipeline: {'every stage passed' if result.exit_code == 0 else 'a stage was REJECTED'}")
    return result.exit_code


def _add_pipeline_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "pipeline",
        help="curate -> SFT -> DPO -> reward/cost models -> RL, each stage gated; a rerun skips finished stages",
        description="Example: mindgate pipeline --config trainers/configs/pipeline.yaml. Stages run in order; a "
        "policy stage continues from the previous one and is gated against the previous accepted stage. A rerun "
        "skips stages whose config and data are unchanged and were accepted, and resumes an interrupted one. "
        "Exit 0: every stage passed; 1: a stage was rejected (the pipeline stops there); 2: unusable input.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the pipeline file")
    parser.add_argument(
        "--rerun", action="append", metavar="STAGE", help="run this stage again even if unchanged (repeatable)"
    )
    parser.set_defaults(handler=_cmd_pipeline)


def _cmd_pairs(args: argparse.Namespace, console: Console) -> int:
    from harness.pairs import build_pairs, write_pairs

    pairs = build_pairs(args.source, args.input, args.split)
    if not pairs:
        raise MindgateError(f"{args.input}: no preference pairs found for source {args.source}")
    write_pairs(pairs, args.out)
    print(f"{len(pairs)} pairs written to {args.out}")
    print(f"next: mindgate curate {args.out} --kind preference --id id --out <dir>")
    return 0


def _cmd_pairs_synth(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from harness.curate.records import read_prompts
    from harness.synth import PairSynthesiser, SynthConfig

    prompts = read_prompts(args.prompts, args.prompt, args.id)
    if args.limit is not None:
        prompts = prompts[: args.limit]
    config = SynthConfig(
        base_url=args.base_url,
        model=args.model,
        api_key_env=args.api_key_env,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        concurrency=args.concurrency,
    )
    synthesiser = PairSynthesiser(config)
    columns = (TextColumn("pairs"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("pairs", total=None)

        def on_done(finished: int, total: int) -> None:
            progress.update(bar, completed=finished, total=total)

        outcome = synthesiser.run(prompts, args.out, on_done)
    print(
        f"{outcome.written} pairs written to {args.out} ({outcome.already_done} already there, "
        f"{len(outcome.failed)} failed, {synthesiser.sent} requests sent)"
    )
    for name, problem in sorted(outcome.failed.items())[:20]:
        print(f"  failed: {name}: {problem}", file=sys.stderr)
    if outcome.failed:
        print("rerun the same command to retry the failed prompts; finished pairs are kept", file=sys.stderr)
        return 1
    print(f"next: mindgate curate {args.out} --kind preference --id id --out <dir>")
    return 0


def _add_pairs_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.pairs import SOURCES

    pairs = commands.add_parser("pairs", help="preference pairs for DPO: from people's judgements, or synthesised")
    actions = pairs.add_subparsers(dest="pairs_command", required=True)
    build = actions.add_parser(
        "build",
        help="build prompt/chosen/rejected pairs from a public data set",
        description="Example: mindgate pairs build --source counselchat --input counsel_chat.csv --split train "
        "--out reports/pairs/counselchat-train.jsonl",
    )
    build.add_argument(
        "--source",
        choices=SOURCES,
        required=True,
        help="counselchat (votes), hh-rlhf (harmless pairs on mental health), esconv (ESConv against "
        "FailedESConv supporter turns) or crisis (labelled safe against harmful replies, rubrics/crisis/pairs)",
    )
    build.add_argument(
        "--input",
        type=Path,
        required=True,
        help="the source's file (CounselChat CSV, HH-RLHF jsonl.gz, a crisis pairs split) or folder (ESConv)",
    )
    build.add_argument("--split", default=None, help="counselchat, esconv: split to use (default: train)")
    build.add_argument("--out", type=Path, required=True, help="output JSONL")
    build.set_defaults(handler=_cmd_pairs)
    synth = actions.add_parser(
        "synth",
        help="ask an OpenAI-compatible endpoint for a preferred and a rejected reply per prompt",
        description="Example (a local vLLM server from `make serve`): mindgate pairs synth --prompts prompts.jsonl "
        "--base-url http://127.0.0.1:8000/v1 --model smollm2-135m-instruct --out reports/pairs/synth.jsonl. "
        "With a hosted API: --base-url https://api.openai.com/v1 --model gpt-4o-mini --api-key-env OPENAI_API_KEY. "
        "The instructions are rubrics/pairs/synth_prompts.yaml; the rejected reply is a weak one (cold, "
        "dismissive, generic), never harmful content. A rerun with the same --out skips finished prompts.",
    )
    synth.add_argument("--prompts", type=Path, required=True, help="JSONL or CSV file with a prompt column")
    synth.add_argument("--prompt", default="prompt", help="column holding the prompt (default: prompt)")
    synth.add_argument("--id", default=None, help="column naming each prompt (default: its row number)")
    synth.add_argument("--base-url", required=True, help="the endpoint, e.g. http://127.0.0.1:8000/v1")
    synth.add_argument("--model", required=True, help="the served model's name")
    synth.add_argument("--api-key-env", default=None, help="NAME of the environment variable holding the key")
    synth.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    synth.add_argument("--max-tokens", type=int, default=320, help="longest reply in tokens (default 320)")
    synth.add_argument("--seed", type=int, default=0, help="sampling seed sent with each request (default 0)")
    synth.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    synth.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    synth.add_argument("--out", type=Path, required=True, help="output JSONL (appended to; finished prompts skipped)")
    synth.set_defaults(handler=_cmd_pairs_synth)


def _cmd_guard(args: argparse.Namespace, console: Console) -> int:
    from harness.guard import GuardOptions, serve_guard

    options = GuardOptions(
        upstream=args.upstream,
        host=args.host,
        port=args.port,
        rules_path=args.rules,
        api_key_env=args.api_key_env,
        upstream_api_key_env=args.upstream_api_key_env,
        audit_path=args.audit_log,
        store_text=args.store_text,
    )
    serve_guard(options, console)
    return 0


def _add_guard_parser(commands: Any) -> None:
    from harness.guard import GUARD_RULES

    guard = commands.add_parser(
        "guard",
        help="a safety guard in front of any OpenAI-compatible server: checks every reply, blocks unsafe ones",
        description="Example: mindgate guard --upstream http://127.0.0.1:8000/v1 (a server from `make serve`), "
        "then point clients, or `mindgate eval --backend openai --base-url http://127.0.0.1:8100/v1`, at the "
        "guard. What it checks and does: rubrics/guard.yaml. Streaming replies are held back until checked.",
    )
    guard.add_argument("--upstream", required=True, help="the served model's address, e.g. http://127.0.0.1:8000/v1")
    guard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    guard.add_argument("--port", type=int, default=8100, help="port to listen on (default 8100)")
    guard.add_argument("--rules", type=Path, default=GUARD_RULES, help="guard rules (default rubrics/guard.yaml)")
    guard.add_argument(
        "--api-key-env",
        default=None,
        help="NAME of an environment variable holding the key clients must send (required off 127.0.0.1)",
    )
    guard.add_argument(
        "--upstream-api-key-env", default=None, help="NAME of an environment variable holding the upstream's key"
    )
    guard.add_argument("--audit-log", type=Path, default=None, help="JSON-lines audit log (default: the rules' path)")
    guard.add_argument(
        "--store-text",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store message and reply text in the audit log (default: the rules' audit.store_text; else hashes)",
    )
    guard.set_defaults(handler=_cmd_guard)


def _cmd_annotate_export(args: argparse.Namespace, console: Console) -> int:
    from harness.annotate import ExportOptions, export_package
    from harness.store import read_run

    options = ExportOptions(
        tasks=tuple(args.task or ()),
        sample=args.sample,
        n=args.n,
        seed=args.seed,
        raters=args.raters,
        double_share=args.double_share,
    )
    manifest_path = export_package([read_run(_run_dir(run)) for run in args.runs], options, args.out)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    double = sum(1 for item in manifest["items"].values() if len(item["raters"]) > 1)
    print(f"{manifest['package_id']}: {len(manifest['items'])} items ({double} for two raters) in {args.out}")
    print(f"hand each rater only their files under {args.out}/label-studio or {args.out}/csv; keep {manifest_path}")
    return 0


def _cmd_annotate_import(args: argparse.Namespace, console: Console) -> int:
    from harness.annotate import import_labels

    report = import_labels(args.files, args.manifest, args.db)
    print(
        f"{report.stored} labels stored, {report.unchanged} already there, for {report.items} items by "
        f"{len(report.raters)} rater(s): {', '.join(report.raters) or '-'}"
    )
    return 0


def _cmd_annotate_report(args: argparse.Namespace, console: Console) -> int:
    from harness.annotate.report import build_report, write_report
    from harness.gate import load_rules

    record = build_report(args.db, iterations=args.iterations, seed=args.seed)
    json_path, md_path = write_report(record, args.out_dir)
    policy = load_rules().human_agreement
    minimum = policy.minimum if policy is not None else 0.67
    below = [
        f"{target} ({entry['value']:.2f})"
        for target, entry in record["metrics"].items()
        if entry.get("value") is not None and entry["value"] < minimum
    ]
    print(
        f"{record['items']} items, {len(record['raters'])} raters, {record['multiply_labelled_items']} labelled twice "
        f"or more: {md_path} and {json_path} (the gate reads the JSON)"
    )
    if below:
        print(f"scorers people do not confirm (kappa below {minimum:g}, rubrics/gate.yaml): {', '.join(below)}")
    return 0


def _add_annotate_command(commands: Any) -> Any:
    """``mindgate annotate <action>``; returns the actions so that more can be added beside these."""
    from harness.annotate.export import SAMPLING, ExportOptions

    annotate = commands.add_parser("annotate", help="people label model replies: export items, import labels")
    actions = annotate.add_subparsers(dest="annotate_command", required=True)
    export = actions.add_parser(
        "export",
        help="choose items from runs and write a labelling package (Label Studio, CSV, manifest)",
        description="Example: mindgate annotate export smollm2-135m-suite-v4 --n 40 --raters 3 --out "
        "reports/annotation/pkg-1. Raters get only the files under label-studio/ or csv/; manifest.json (reference "
        "tiers, scorer outputs) stays with the coordinator. Protocol: rubrics/annotation/PROTOCOL.md.",
    )
    defaults = ExportOptions()
    export.add_argument("runs", nargs="+", metavar="RUN", help="run directories, run ids or baseline names")
    export.add_argument("--out", type=Path, required=True, help="a new folder for the package")
    export.add_argument("--task", action="append", help="task to sample (repeatable; default mh_crisis, mh_empathy)")
    export.add_argument(
        "--sample",
        choices=SAMPLING,
        default=defaults.sample,
        help="random; stratified by reference tier (crisis) or empathy score band; or disagreement: items whose "
        f"crisis layers disagree or whose empathy levels are near a boundary first (default {defaults.sample})",
    )
    export.add_argument("--n", type=int, default=defaults.n, help=f"items per task (default {defaults.n})")
    export.add_argument("--seed", type=int, default=defaults.seed, help="same seed, same package (default 0)")
    export.add_argument("--raters", type=int, default=defaults.raters, help=f"raters (default {defaults.raters})")
    export.add_argument(
        "--double-share",
        type=float,
        default=defaults.double_share,
        help=f"share of items labelled by two raters (default {defaults.double_share})",
    )
    export.set_defaults(handler=_cmd_annotate_export)
    importer = actions.add_parser(
        "import",
        help="store labels from Label Studio JSON exports or filled CSV sheets in the leaderboard database",
        description="Example: mindgate annotate import project-1.json rater-2-crisis.csv --manifest "
        "reports/annotation/pkg-1/manifest.json. Every row is checked first; any problem stores nothing. "
        "Importing the same labels again changes nothing; different labels for a stored one are refused.",
    )
    importer.add_argument("files", nargs="+", type=Path, metavar="FILE", help="Label Studio JSON exports or CSVs")
    importer.add_argument("--manifest", type=Path, required=True, help="the package's manifest.json")
    importer.add_argument("--db", type=Path, default=None, help="database (default $MINDGATE_DB or the leaderboard's)")
    importer.set_defaults(handler=_cmd_annotate_import)
    report = actions.add_parser(
        "report",
        help="agreement between raters and of each scorer with them, written into the validation reports",
        description="Example: mindgate annotate report. Writes human_agreement.md (for people) and "
        "human_agreement.json (the gate notes rules whose scorer agrees with people below rubrics/gate.yaml's "
        "human_agreement minimum) from the raw labels in the database.",
    )
    report.add_argument("--db", type=Path, default=None, help="database (default $MINDGATE_DB or the leaderboard's)")
    report.add_argument(
        "--out-dir", type=Path, default=REPORTS_DIR / "validation", help="where to write (default reports/validation)"
    )
    report.add_argument("--iterations", type=int, default=1000, help="bootstrap resamples (default 1000)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0): a report reproduces")
    report.set_defaults(handler=_cmd_annotate_report)
    return actions


def _cmd_baseline_promote(args: argparse.Namespace, console: Console) -> int:
    from harness.store import promote_baseline

    path = promote_baseline(_run_dir(args.run), args.name, force=args.force)
    console.print(f"baseline {args.name}: {path} (commit it; gate against it with --baseline {args.name})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindgate", description="Evaluate and gate mental-health language models and their LoRA adapters."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    eval_parser = commands.add_parser("eval", help="run the benchmark suite (or chosen tasks) on a model")
    _add_config_arguments(eval_parser)
    eval_parser.set_defaults(handler=_cmd_eval)
    serve_parser = commands.add_parser(
        "serve", help="start a vLLM server with the model and adapters, check it with the canary, serve until Ctrl-C"
    )
    _add_config_arguments(serve_parser, only=_SERVE_FIELDS)
    serve_parser.set_defaults(handler=_cmd_serve)
    _add_guard_parser(commands)
    tasks_parser = commands.add_parser("tasks", help="list the project's tasks and groups")
    tasks_parser.set_defaults(handler=_cmd_tasks)
    model_parser = commands.add_parser("model", help="materialise/verify a model and print its path and hash")
    model_parser.add_argument("model", nargs="?", default="smollm2-135m-instruct")
    model_parser.set_defaults(handler=_cmd_model)
    compare_parser = commands.add_parser("compare", help="paired comparison of two runs, per task and metric")
    compare_parser.add_argument("run_a", help="baseline run (id or directory)")
    compare_parser.add_argument("run_b", help="candidate run (id or directory); differences are B - A")
    compare_parser.add_argument("--margin", type=float, default=0.05, help="difference that matters (power warning)")
    compare_parser.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm correction")
    compare_parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare_parser.set_defaults(handler=_cmd_compare)
    board_parser = commands.add_parser("leaderboard", help="latest result per model + adapter, from the database")
    board_parser.add_argument("--base", help="only runs of this base model (name or hash prefix)")
    board_parser.add_argument("--task", help="only this task")
    board_parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    board_parser.add_argument(
        "--db", type=Path, default=None, help="database file (default: $MINDGATE_DB or reports/leaderboard.db)"
    )
    board_parser.add_argument("--rebuild", action="store_true", help="re-index every run directory first")
    board_parser.set_defaults(handler=_cmd_leaderboard)
    _add_gate_command(commands)
    _add_report_commands(commands)
    _add_curate_command(commands)
    _add_train_commands(commands)
    _add_pipeline_command(commands)
    _add_pairs_command(commands)
    return parser


_GATE_EVAL_FIELDS: tuple[str, ...] = (
    *("model", "adapters", "limit", "batch_size", "num_fewshot", "apply_chat_template"),
    *("dtype", "device", "seed", "use_cache"),
)


def _add_gate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gate_parser = commands.add_parser(
        "gate",
        help="accept (exit 0) or reject (exit 1) a candidate against a baseline; 2 = unusable input. With "
        "--candidate RUN it judges a finished run; with --model/--adapter it evaluates the tasks the rules need, "
        "floors first, and stops as soon as a floor can no longer pass",
    )
    gate_parser.add_argument("--candidate", help="candidate run (id or directory)")
    gate_parser.add_argument(
        "--baseline", required=True, help="baseline run (id, directory, or a name under reports/baselines)"
    )
    gate_parser.add_argument("--rules", type=Path, default=None, help="rules file (default: rubrics/gate.yaml)")
    gate_parser.add_argument("--db", type=Path, default=None, help="where the verdict is stored (leaderboard db)")
    gate_parser.add_argument(
        "--chunk-size",
        type=int,
        default=32,
        help="with --model/--adapter: documents of a floor task evaluated between two checks of its floors",
    )
    _add_config_arguments(gate_parser, only=_GATE_EVAL_FIELDS)
    gate_parser.set_defaults(handler=_cmd_gate)


def _add_report_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``report`` (the HTML page) and ``baseline promote``."""
    report_parser = commands.add_parser(
        "report", help="write a self-contained HTML report of runs: scores, paired differences, gate, worst samples"
    )
    report_parser.add_argument("runs", nargs="+", metavar="RUN", help="runs (ids, directories or baseline names)")
    report_parser.add_argument("--baseline", help="run the others are compared and gated against (default: the first)")
    report_parser.add_argument(
        "--out", type=Path, default=None, help="output file (default: reports/html/<run>.html or compare-<a>-<b>.html)"
    )
    report_parser.add_argument("--rules", type=Path, default=None, help="gate rules file (default: rubrics/gate.yaml)")
    report_parser.add_argument("--samples", type=int, default=5, help="worst samples shown per task and run")
    report_parser.set_defaults(handler=_cmd_report)
    _add_annotate_command(commands)
    baseline_parser = commands.add_parser("baseline", help="manage the baselines kept in reports/baselines")
    baseline_commands = baseline_parser.add_subparsers(dest="baseline_command", required=True)
    promote_parser = baseline_commands.add_parser(
        "promote", help="copy a completed run to reports/baselines/<name>/ (to be committed)"
    )
    promote_parser.add_argument("run", help="run to promote (id or directory)")
    promote_parser.add_argument("--name", required=True, help="baseline name, e.g. smollm2-135m-suite-v4")
    promote_parser.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
    promote_parser.set_defaults(handler=_cmd_baseline_promote)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    _quiet_library_logs()
    try:
        return int(args.handler(args, console))
    except MindgateError as error:
        console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        return error.exit_code
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished requests are kept in the request cache")
        return 130


class _DropCustomDatasetHint:
    """lm-eval warns on every task with a custom_dataset hook (all of ours) about --metadata."""

    def filter(self, record: object) -> bool:
        return "Custom kwargs can be passed" not in str(getattr(record, "msg", ""))


def _quiet_library_logs() -> None:
    import logging

    for name in ("lm_eval", "datasets", "transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("lm_eval.api.task").addFilter(_DropCustomDatasetHint())


if __name__ == "__main__":
    sys.exit(main())
