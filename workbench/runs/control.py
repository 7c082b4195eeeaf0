"""Steering a run from a viewer: stop requests and resume (used by the CLI and the TUI)."""

from __future__ import annotations

import os
import signal
import socket

from workbench.errors import RunError
from workbench.runs.store import ACTIVE, Run


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
    refused = run.write_stop_request(now)
    if now:
        host = st.get("host") or socket.gethostname()
        if host != socket.gethostname():  # its pid means nothing here: the stop request ({"now": true}) tells it
            if refused:
                raise RunError(f"cannot ask {run.id} to stop: the run directory refuses the stop request "
                               f"({refused})", where=str(run.dir), hint=f"run workbench stop --now on {host}")
            return f"terminating {run.id} (its supervisor runs on {host})"
        try:
            os.kill(st["supervisor_pid"], signal.SIGTERM)
        except (ProcessLookupError, PermissionError, KeyError, TypeError):
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
