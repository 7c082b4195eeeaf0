"""Fabricated run directories for the TUI tests (real-looking files, no training)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from workbench.runs.store import Run, process_start_time

JOB_TOML = """# Resolved by workbench 0.1.0 from sft.toml; the job's only input.

[run]
name = "{name}"
seed = {seed}

[model]
path = "/models/tiny-llama"

[data]
train = "/data/sft-messages.jsonl"

[trainer]
name = "sft"

[trainer.args]
max_steps = {steps}
learning_rate = {lr}
per_device_train_batch_size = 8

[launch]
launcher = "local"
num_processes = 1
"""


def metric_row(step: int, steps: int, t0: float, loss0: float = 6.0, kind: str = "train") -> dict:
    loss = 2.0 + (loss0 - 2.0) * math.exp(-step / max(1, steps / 4))
    row = {"step": step, "time": round(t0 + step * 0.1, 3), "kind": kind, "epoch": round(step / 50, 4)}
    if kind == "eval":
        row["eval_loss"] = loss + 0.1
        return row
    row.update(loss=loss, learning_rate=1e-3 * (1 - step / (steps + 1)), grad_norm=1.0 + 1 / step,
               num_tokens=float(200 * step), tokens_per_second=2000.0 + step)
    return row


def write_rows(run_dir: Path, name: str, rows: list[dict]) -> None:
    with open(run_dir / name, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def make_run(ws: Path, run_id: str, *, status: str = "completed", steps: int = 40, logged: int | None = None,
             lr: float = 1e-3, seed: int = 42, name: str | None = None, loss0: float = 6.0,
             created: float | None = None, eval_every: int = 10, **status_extra) -> Path:
    """A run dir as the supervisor and worker leave it (status.json, job.toml, metrics, events, console)."""
    run_dir = ws / "runs" / run_id
    (run_dir / "checkpoints").mkdir(parents=True)
    name = name or run_id
    (run_dir / "job.toml").write_text(JOB_TOML.format(name=name, seed=seed, steps=steps, lr=lr))
    created = created if created is not None else time.time() - 60
    logged = steps if logged is None else logged
    st = {"id": run_id, "status": status, "trainer": "sft", "name": name, "created": created, "host": os.uname().nodename,
          "world_size": 1, "max_steps": steps, "attempt": 1, "started": created + 1}
    if status in ("completed", "failed", "stopped"):
        st.update(ended=created + 30, exit_code=0 if status != "failed" else 1)
    if status in ("running", "stopping"):
        st.update(supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()), job_pids=[])
    st.update(status_extra)
    import socket

    st["host"] = socket.gethostname()
    (run_dir / "status.json").write_text(json.dumps(st))
    t0 = created + 2
    rows = []
    for step in range(1, logged + 1):
        rows.append(metric_row(step, steps, t0, loss0))
        if eval_every and step % eval_every == 0:
            rows.append(metric_row(step, steps, t0, loss0, kind="eval"))
    write_rows(run_dir, "metrics.jsonl", rows)
    events = [{"time": t0, "event": "train_begin", "step": 0, "max_steps": steps}]
    events += [{"time": t0 + s * 0.1, "event": "checkpoint", "step": s, "path": f"checkpoint-{s}"}
               for s in range(20, logged + 1, 20)]
    write_rows(run_dir, "events.jsonl", events)
    (run_dir / "console.log").write_text("".join(f"{{'loss': '{r['loss']:.3f}'}}\n" for r in rows if "loss" in r))
    return run_dir


def fail_with_oom(run_dir: Path) -> None:
    """Turn a fabricated run into one that died of CUDA OOM, as the worker/supervisor record it."""
    msg = "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    write_rows(run_dir, "events.jsonl", [
        {"time": time.time(), "event": "oom", "message": msg, "hint": "lower per_device_train_batch_size"},
        {"time": time.time(), "event": "ended", "status": "failed", "exit_code": 1, "signal": None}])
    with open(run_dir / "console.log", "a") as f:
        f.write("Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n"
                f"    trainer.train()\ntorch.{msg}\nworkbench: hint: lower the batch size\n")
    st = json.loads((run_dir / "status.json").read_text())
    st.update(status="failed", exit_code=1, reason=msg, ended=st.get("started", time.time()) + 20)
    (run_dir / "status.json").write_text(json.dumps(st))


def test_fabricated_run_reads_back(tmp_path):
    run_dir = make_run(tmp_path, "r1", steps=40, logged=25, status="running")
    s = Run(run_dir).summary()
    assert s["status"] == "running" and s["step"] == 25 and s["max_steps"] == 40
    assert s["loss"] is not None and s["eta"] is not None
