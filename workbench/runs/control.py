"""Steering a run from a viewer: stop requests and resume (used by the CLI and the TUI)."""

from __future__ import annotations

import json
import os
import signal
import time

from workbench.errors import RunError
from workbench.runs.store import ACTIVE, Run
from workbench.training.reporter import STOP_REQUEST


def _write_stop_request(run: Run, now: bool) -> str | None:
    """Write stop.request (and its event); the OS's reason when the run directory refuses it."""
    try:
        tmp = run.path(STOP_REQUEST + ".tmp")
        tmp.write_text(json.dumps({"time": time.time(), "now": now}))
        os.replace(tmp, run.path(STOP_REQUEST))
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        with open(run.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "event": "stop_requested", "now": now}) + "\n")
    except OSError:
        pass
    return None


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
    refused = _write_stop_request(run, now)
    if now:
        try:
            os.kill(st["supervisor_pid"], signal.SIGTERM)
        except (ProcessLookupError, KeyError, TypeError):
            pass
        return f"terminating {run.id}"
    if refused:
        raise RunError(f"cannot ask {run.id} to stop: the run directory refuses the stop request ({refused})",
                       where=str(run.dir), hint=f"workbench stop --now {run.id} ends it without a checkpoint")
    return f"stop requested: {run.id} will save a checkpoint and exit"


def resume(run: Run) -> str:
    """Start a new supervisor that continues the run from its last complete checkpoint, or
    adopts its job when that job outlived its supervisor. Returns what it did."""
    from workbench.supervisor import spawn

    st = run.status()
    if st["status"] in ACTIVE:
        raise RunError(f"run {run.id} is still {st['status']}")
    if st["status"] == "completed":  # its final model is saved; resuming would only replay the last steps
        raise RunError(f"run {run.id} is completed: nothing to resume (train longer with a new run)")
    return spawn(run, resume=True, expect_attempt=int(st.get("attempt") or 0))
