"""Follow a run from the terminal: progress lines until it ends; exit code from its status."""

from __future__ import annotations

import sys
import time

from workbench.runs.files import iter_jsonl
from workbench.runs.store import FINAL, Run

EXIT_CODES = {"completed": 0, "failed": 1, "stopped": 3, "lost": 4}


def format_metrics(row: dict, max_steps: int | None) -> str:
    step = row.get("step", 0)
    parts = [f"step {step}" + (f"/{max_steps}" if max_steps else "")]
    for key, label in (("loss", "loss"), ("eval_loss", "eval_loss"), ("reward", "reward"), ("learning_rate", "lr"),
                       ("grad_norm", "grad_norm"), ("tokens_per_second", "tok/s")):
        value = row.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.4g}")
    parts += [f"{k} {v:.4g}" for k, v in row.items() if k.startswith("eval/") and isinstance(v, (int, float))]
    return "  ".join(parts)


def follow(run: Run, out=sys.stdout, poll_s: float = 0.25, every: int | None = None) -> int:
    """Print metrics as they arrive; return the exit code for the run's final status."""
    offset = 0
    interactive = out.isatty()
    max_steps = run.raw_status.get("max_steps")
    last_printed = -1
    status = run.status()
    print(f"run {run.id}  ->  {run.dir}", file=out)
    while True:
        path = run.path("metrics.jsonl")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            complete = chunk.rfind(b"\n") + 1
            rows = list(iter_jsonl(path, offset)) if complete else []
            offset += complete
            for row in rows:
                step = row.get("step", 0)
                if row.get("kind") == "evaluation":  # post-training evaluator scores
                    scores = {k: v for k, v in row.items() if k.startswith("eval/")}
                    print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()),
                          file=out, flush=True)
                elif row.get("kind") == "eval":
                    print(format_metrics(row, max_steps), file=out)
                elif interactive:
                    print("\r" + format_metrics(row, max_steps).ljust(100), end="", file=out, flush=True)
                elif every is None or step - last_printed >= every or step == max_steps:
                    print(format_metrics(row, max_steps), file=out, flush=True)
                    last_printed = step
        status = run.status()
        if status["status"] in FINAL:
            # one last read so no final line is missed
            if path.exists() and path.stat().st_size > offset:
                continue
            break
        time.sleep(poll_s)
    if interactive:
        print(file=out)
    detail = status.get("reason") or ""
    sig = f" signal {status['signal']}" if status.get("signal") else ""
    print(f"{status['status']}{sig}" + (f": {detail}" if detail else ""), file=out)
    return EXIT_CODES.get(status["status"], 1)
