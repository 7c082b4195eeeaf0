"""Why a run failed, at a glance: exit code or signal, the last error lines, a hint."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from workbench.runs.store import DELETED

OOM_PATTERN = re.compile(r"out of memory|OutOfMemoryError", re.IGNORECASE)
ERROR_PATTERN = re.compile(r"(Error|Exception|error:|Killed|Traceback|FAILED)")
DEFAULT_OOM_HINT = ("CUDA out of memory: lower per_device_train_batch_size (raise gradient_accumulation_steps), "
                    "enable gradient checkpointing, or load the model in 4-bit")


@dataclass
class Failure:
    """The short story of a failed, lost or stopped run."""

    headline: str
    error_lines: list[str] = field(default_factory=list)
    hint: str | None = None


def exit_text(status: dict[str, Any]) -> str:
    """'exit code 1', 'killed by SIGKILL', ... ('' when unknown)."""
    sig, code = status.get("signal"), status.get("exit_code")
    if sig:
        return f"killed by {sig}" if not str(sig).startswith("killed") else str(sig)
    if code is not None:
        return f"exit code {code}"
    return ""


def why_text(status: dict[str, Any]) -> str:
    """Exit code or signal and the reason, each said once ('killed by SIGKILL', not twice)."""
    parts: list[str] = []
    for piece in (exit_text(status), str(status.get("reason") or "")):
        piece = piece.strip()
        if piece and not any(piece in p for p in parts):
            parts = [p for p in parts if p not in piece] + [piece]
    return ", ".join(parts)


def last_error_lines(console: Sequence[str], limit: int = 4) -> list[str]:
    """The last traceback's final lines, else the last lines that look like errors."""
    lines = [ln for ln in console if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback"):
            tail = [ln for ln in lines[i + 1:] if not ln.startswith("  ")]
            return (tail or lines[i + 1:])[-limit:]
    return [ln for ln in lines if ERROR_PATTERN.search(ln)][-limit:]


def diagnose(status: dict[str, Any], console: Sequence[str], events: Sequence[dict[str, Any]]) -> Failure | None:
    """A Failure for runs that ended badly (failed/lost), None for the others."""
    state = status.get("status")
    if state not in ("failed", "lost"):
        return None
    parts = [state.upper()]
    how = exit_text(status)
    if how:
        parts.append(how)
    reason = status.get("reason")
    if reason and reason not in how:
        parts.append(str(reason))
    hint = None
    for ev in reversed(events):
        if ev.get("event") in ("oom", "error"):
            hint = ev.get("hint") or hint
            msg = ev.get("message")
            if msg and msg not in " ".join(parts):
                parts.append(str(msg))
            break
    if hint is None and any(OOM_PATTERN.search(ln) for ln in console[-200:]):
        hint = DEFAULT_OOM_HINT
    if hint is None and reason == DELETED:
        hint = "what shows here was read before the run directory went; nothing is left to resume"
    if hint is None and state == "lost":
        gone = "" if "supervisor" in " ".join(parts) else "its supervisor process is gone: "
        hint = f"{gone}the machine rebooted or the processes were killed; `r` (workbench resume) continues from the last checkpoint"
    return Failure(" - ".join(parts), last_error_lines(console), hint)
