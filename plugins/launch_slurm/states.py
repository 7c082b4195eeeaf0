"""Slurm job states -> run states (completed | failed | stopped), with the reason shown to users."""

from __future__ import annotations

from typing import Any

# Job states in which the job may still run (squeue's long names).
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
          "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED", "POWER_UP_NODE"}
# Ends that a resubmission from the last checkpoint can repair.
RESUBMITTABLE = {"TIMEOUT", "PREEMPTED", "NODE_FAIL"}
REASONS = {
    "TIMEOUT": "Slurm time limit reached (launch.slurm.time)",
    "PREEMPTED": "preempted by Slurm",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node failed to boot",
    "OUT_OF_MEMORY": "out of memory on a node (launch.slurm.mem)",
    "DEADLINE": "Slurm deadline reached",
}


def is_active(state: str) -> bool:
    return state.split()[0] in ACTIVE or state == "UNKNOWN_ACTIVE"


def _exit(info: dict[str, str]) -> tuple[int | None, int | None]:
    """scontrol's ExitCode=code:signal."""
    code, _, sig = info.get("ExitCode", "").partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


def final_state(state: str, info: dict[str, str], result: dict[str, Any] | None, stop_requested: bool,
                time_limit_signal: bool) -> dict[str, Any]:
    """The run's final {status, exit_code, signal, reason, resubmittable} for a finished job."""
    state = state.split()[0]
    code, sig = _exit(info)
    signal_name = None
    if sig:
        import signal as _signal

        try:
            signal_name = _signal.Signals(sig).name
        except ValueError:
            signal_name = str(sig)
    out: dict[str, Any] = {"exit_code": code, "signal": signal_name, "resubmittable": False}
    outcome = (result or {}).get("outcome")
    if state == "COMPLETED":
        if outcome == "completed":
            out.update(status="completed", reason=None)
        elif outcome == "stopped" and time_limit_signal and not stop_requested:
            # Every rank checkpointed before the time limit: a resubmission continues the run.
            out.update(status="stopped", reason="stopped before the Slurm time limit (checkpoint saved)",
                       resubmittable=True)
        elif outcome == "stopped":
            out.update(status="stopped", reason="on request")
        else:
            out.update(status="failed", reason=(result or {}).get("reason") or "job exited without finishing")
    elif state == "CANCELLED":
        out.update(status="stopped", reason="on request, scancel" if stop_requested
                   else "cancelled in Slurm (scancel)")
    elif state == "FAILED":
        out.update(status="failed", reason=f"job failed (exit code {code})" if code is not None else "job failed")
    elif state in REASONS:
        out.update(status="failed", reason=REASONS[state], resubmittable=state in RESUBMITTABLE)
    else:
        out.update(status="failed", reason=f"Slurm job state {state}")
    return out
