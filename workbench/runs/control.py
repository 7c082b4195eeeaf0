"""Steering a run from a viewer: stop requests and resume (used by the CLI and the TUI)."""

from __future__ import annotations

import json
import os
import signal
import time

from workbench.errors import RunError
from workbench.runs.store import ACTIVE, Run
from workbench.training.reporter import STOP_REQUEST


def request_stop(run: Run, now: bool = False) -> str:
    """Ask for a graceful stop (checkpoint, then exit) or, with now, terminate the job."""
    st = run.status()
    if st["status"] == "lost" and now and st.get("job_pgid"):
        # The supervisor is gone but the job may live on in its own process group.
        try:
            os.killpg(st["job_pgid"], signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return f"{run.id} is lost and its job is no longer running"
        return f"terminated the job of lost run {run.id}"
    if st["status"] not in ACTIVE:
        raise RunError(f"run {run.id} is {st['status']}, not running")
    tmp = run.path(STOP_REQUEST + ".tmp")
    tmp.write_text(json.dumps({"time": time.time(), "now": now}))
    os.replace(tmp, run.path(STOP_REQUEST))
    with open(run.path("events.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps({"time": round(time.time(), 3), "event": "stop_requested", "now": now}) + "\n")
    if now:
        try:
            os.kill(st["supervisor_pid"], signal.SIGTERM)
        except (ProcessLookupError, KeyError, TypeError):
            pass
        return f"terminating {run.id}"
    return f"stop requested: {run.id} will save a checkpoint and exit"


def _group_alive(pgid: int | None) -> bool:
    if not isinstance(pgid, int) or pgid <= 1:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def resume(run: Run) -> int:
    """Start a new supervisor that continues the run from its last checkpoint."""
    from workbench.supervisor import spawn

    st = run.status()
    if st["status"] in ACTIVE:
        raise RunError(f"run {run.id} is still {st['status']}")
    if st["status"] == "completed":  # its final model is saved; resuming would only replay the last steps
        raise RunError(f"run {run.id} is completed: nothing to resume (train longer with a new run)")
    if st["status"] == "lost" and _group_alive(st.get("job_pgid")):
        raise RunError(f"run {run.id} is lost but its job (process group {st['job_pgid']}) is still running; "
                       f"end it first: workbench stop --now {run.id}")
    if not run.checkpoints():
        raise RunError(f"run {run.id} has no checkpoint to resume from")
    return spawn(run, resume=True)
