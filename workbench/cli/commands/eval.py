"""workbench eval TARGET [--evaluator NAME ...] [--data FILE] [--set key=value ...] [--detach]

An evaluation is a run like any other (its own run directory, supervisor, events and
metrics) whose job, the `evaluate` trainer, trains nothing and runs [eval].evaluators.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run's model, a model folder or Hub id, or an evaluation config")
    p.add_argument("target", help="a run (id, prefix, `last`, directory), a model folder or Hub id, "
                                  "or a job config whose trainer is `evaluate`")
    p.add_argument("-e", "--evaluator", dest="evaluators", action="append", metavar="NAME",
                   help="an evaluator to run (repeatable; default: the run's [eval].evaluators, else perplexity "
                        "and generate)")
    p.add_argument("--data", help="evaluation data (required for a model; default for a run: its data.eval, "
                                  "else its eval_fraction slice, else its last training rows)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="for a run: which checkpoints/ folder (default: final)")
    which.add_argument("--checkpoints", metavar="all|NAME,...",
                       help="for a run: score each of these checkpoints (all: every checkpoint-N and final) "
                            "in one evaluation run; eval.json compares them")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="override a key of the resolved evaluation config, e.g. eval.options.perplexity.max_rows=16")
    p.add_argument("--name", help="run name (default: eval-<target name>)")
    p.add_argument("-d", "--detach", action="store_true", help="start and return at once")
    p.set_defaults(func=run)


def _is_config_file(target: str) -> bool:
    return target.endswith(".toml") and Path(target).is_file()


def resolve(target: str, data: str | None = None, evaluators: list[str] | None = None,
            checkpoint: str | None = None, overrides: list[str] | None = None, checkpoints: str | None = None):
    """(validated JobConfig, run name) for an evaluation of `target`. Creates nothing on disk."""
    from workbench.config import load_config
    from workbench.errors import ConfigError, RunError
    from workbench.plugin_manager import get_registry
    from workbench.runs.store import find_run, job_toml
    from workbench_plugins.evaluate.runner import check_evaluators
    from workbench_plugins.evaluate.targets import DEFAULT_EVALUATORS, config_overrides, plan_for_model, plan_for_run

    if data and not data.startswith("hub:") and not Path(data).exists():
        raise ConfigError("file not found", where=f"--data {data}")
    if _is_config_file(target):
        if checkpoint or checkpoints:
            raise ConfigError("--checkpoint/--checkpoints apply to a run target, not to a job config")
        config = load_config(target, config_overrides(data, evaluators) + list(overrides or []))
        if config.trainer_name != "evaluate":
            raise ConfigError(f"trainer.name is '{config.trainer_name}', not 'evaluate': to evaluate what a "
                              "training config produced, run it and pass the run to `workbench eval`", where=target)
        config.data.setdefault("eval", {"evaluators": list(DEFAULT_EVALUATORS), "options": {}})
        name = config.data["run"].get("name") or f"eval-{Path(target).stem}"
    else:
        found = None
        is_model_dir = Path(target).is_dir() and not (Path(target) / "status.json").exists()
        if not is_model_dir:
            try:
                found = find_run(target)
            except RunError as exc:
                if not exc.message.startswith("no run "):  # e.g. a prefix matching several runs
                    raise
        if found is not None:
            plan = plan_for_run(found, data, evaluators, checkpoint, checkpoints)
        elif checkpoint or checkpoints:
            raise ConfigError(f"--checkpoint/--checkpoints apply to a run, and '{target}' is no run of this workspace")
        else:
            plan = plan_for_model(target, data, evaluators)
        config = load_config(None, overrides, text=job_toml(plan.config, None))
        config.source = plan.source
        name = plan.name
    check_evaluators(config.data.get("eval"), get_registry())
    adapter = config.data["model"].get("adapter")
    if adapter and not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError(f"not a PEFT adapter folder (no adapter_config.json): {adapter}", where="model.adapter")
    return config, name


def follow_evaluation(run, out=sys.stdout, poll_s: float = 0.25) -> int:
    """Print the evaluation's events (start, each evaluator's scores, errors); exit code of its final status."""
    from workbench.cli.follow import print_final
    from workbench.runs.jsonl import JsonlFollower
    from workbench.runs.store import FINAL

    print(f"run {run.id}  ->  {run.dir}", file=out, flush=True)
    events = JsonlFollower(run.path("events.jsonl"))
    while True:
        status = run.status()  # read before the events, so the last ones are not missed
        batch = events.read()
        for event in batch.rows:
            _print_event(event, out)
        if batch.rows:
            continue
        if status["status"] in FINAL:
            break
        time.sleep(poll_s)
    return print_final(status, out)


def _print_event(event: dict, out) -> None:
    from workbench.cli.follow import format_scores

    kind = event.get("event")
    if kind == "evaluation_begin":
        model = event.get("model") + (f" + adapter {event['adapter']}" if event.get("adapter") else "")
        print(f"evaluating {model} with {', '.join(event.get('evaluators') or [])}", file=out, flush=True)
    elif kind == "evaluated":
        scores = {k: v for k, v in event.items() if k not in ("event", "time", "evaluator", "checkpoint", "step")}
        at = f" [{event['checkpoint']}]" if event.get("checkpoint") else ""
        print(f"  {event.get('evaluator')}{at}: {format_scores(scores)}", file=out, flush=True)
    elif kind in ("error", "oom"):
        print(f"  {kind}: {event.get('message')}", file=out, flush=True)


def run(args) -> int:
    from workbench.runs.store import create_run
    from workbench.supervisor import spawn

    print(f"resolving {args.target} ...", file=sys.stderr)
    config, name = resolve(args.target, args.data, args.evaluators, args.checkpoint, args.overrides,
                           args.checkpoints)
    run = create_run(config, name=args.name or name)
    spawn(run)
    if args.detach:
        print(run.id)
        return 0
    try:
        return follow_evaluation(run)
    except KeyboardInterrupt:
        print(f"\nstill running in the background: workbench show {run.id} | workbench stop {run.id}",
              file=sys.stderr)
        return 130
