"""Follow a run from the terminal: progress lines until it ends; exit code from its status.

Reads metrics.jsonl and events.jsonl through the one run-file reader, so no line is
printed twice or skipped: when a file is rewritten (a resume keeps the rows up to its
checkpoint) the rows already printed are recognised and not printed again.
"""

from __future__ import annotations

import sys
import time

from workbench import numbers
from workbench.runs.jsonl import JsonlFollower
from workbench.runs.store import FINAL, Run

EXIT_CODES = {"completed": 0, "failed": 1, "stopped": 3, "lost": 4}
SHOWN_EVENTS = {
    "nan": "loss became NaN/inf at step {step}",
    "checkpoint_skipped": "{checkpoint} is not usable ({problem}); resuming from {using}",
    "resumed": "resumed from {checkpoint}",
    "adopted": "a new supervisor adopted the running job",
    "run_files_lost": "{reason}: {action}",
    "plugin_error": "plugin error in {hook}: {message}",
    "invalid_rows": "skipped {count} invalid rows of {total} in data.{split} (see {file})",
    "no_space": "{message}",
}


def format_metrics(row: dict, max_steps: int | None) -> str:
    step = row.get("step", 0)
    parts = [f"step {step}" + (f"/{max_steps}" if max_steps else "")]
    for key, label in (("loss", "loss"), ("eval_loss", "eval_loss"), ("reward", "reward"), ("learning_rate", "lr"),
                       ("grad_norm", "grad_norm"), ("tokens_per_second", "tok/s")):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{label} {numbers.num(value)}")
    parts += [f"{k} {numbers.num(v)}" for k, v in row.items() if k.startswith("eval/") and isinstance(v, (int, float))]
    return "  ".join(parts)


def format_scores(scores: dict) -> str:
    """`name value` pairs of evaluator scores, numbers through the one formatter."""
    return "  ".join(f"{k} {numbers.num(v) if isinstance(v, float) else v}" for k, v in scores.items())


def _row_key(row: dict) -> tuple:
    return row.get("step"), row.get("kind"), row.get("time")


def _event_line(event: dict) -> str | None:
    template = SHOWN_EVENTS.get(event.get("event", ""))
    if template is None:
        return None
    try:
        return template.format(**event)
    except (KeyError, IndexError, ValueError):
        return f"{event.get('event')}: " + ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "time"))


def follow(run: Run, out=sys.stdout, poll_s: float = 0.25, every: int | None = None,
           skip_existing: bool = False) -> int:
    """Print metrics and notable events as they arrive; return the exit code for the run's final status.

    skip_existing: print only rows written from now on (a resumed run's kept history is not news).
    """
    interactive = out.isatty()
    max_steps = run.raw_status.get("max_steps")
    metrics = JsonlFollower(run.path("metrics.jsonl"))
    events = JsonlFollower(run.path("events.jsonl"))
    printed: set[tuple] = set()
    last_printed = 0  # with `every`: steps every, 2*every, ... (and the last)
    warned_damage = 0
    on_progress_line = False
    print(f"run {run.id}  ->  {run.dir}", file=out)
    if skip_existing:
        printed.update(_row_key(r) for r in metrics.read_all().rows)
        events.read_all()  # a resumed or joined run's earlier events are not news; a new run's all are

    def emit(text: str) -> None:
        nonlocal on_progress_line
        if on_progress_line:
            print(file=out)
            on_progress_line = False
        print(text, file=out, flush=True)

    while True:
        status = run.status()  # read before the files, so their last lines are not missed
        final = status["status"] in FINAL
        batch = metrics.read_all() if final else metrics.read()
        for bad in batch.damaged:
            if warned_damage < 5:
                emit(f"warning: metrics.jsonl {bad}")
            warned_damage += 1
        for row in batch.rows:
            key = _row_key(row)
            if key in printed:  # the file was rewritten and kept this row: printed already
                continue
            printed.add(key)
            step = row.get("step", 0)
            if row.get("kind") == "evaluation":  # post-training evaluator scores
                scores = {k: v for k, v in row.items() if k.startswith("eval/")}
                emit(format_scores(scores))
            elif row.get("kind") == "eval":
                emit(format_metrics(row, max_steps))
            elif interactive:
                print("\r" + format_metrics(row, max_steps).ljust(100), end="", file=out, flush=True)
                on_progress_line = True
            elif every is None or step - last_printed >= every or step == max_steps:
                emit(format_metrics(row, max_steps))
                last_printed = step
        for event in (events.read_all() if final else events.read()).rows:
            line = _event_line(event)
            if line:
                emit(line)
        if final:
            break
        if not batch.rows:
            time.sleep(poll_s)
    if on_progress_line:
        print(file=out)
    if warned_damage:
        print(f"warning: {warned_damage} damaged lines in metrics.jsonl", file=out)
    return print_final(status, out)


def print_final(status: dict, out=sys.stdout) -> int:
    """Print a finished run's last line (`failed signal 9: reason`); return the exit code for its status."""
    detail = status.get("reason") or ""
    sig = f" signal {status['signal']}" if status.get("signal") else ""
    print(f"{status['status']}{sig}" + (f": {detail}" if detail else ""), file=out)
    return EXIT_CODES.get(status["status"], 1)
