"""A workbench run directory as a run source, read incrementally by the one run-file reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.runs.jsonl import JsonlFollower, TextFollower
from workbench.runs.store import DELETED, Run
from workbench.sources.base import Update


class RunDirSource:
    """A workbench run directory: status, metrics, events, GPU samples and console tail."""

    controllable = True

    def __init__(self, run: Run):
        self.run = run
        self.id = run.id
        self.title = run.id
        self._metrics = JsonlFollower(run.path("metrics.jsonl"))
        self._events = JsonlFollower(run.path("events.jsonl"))
        self._gpu = JsonlFollower(run.path("gpu.jsonl"))
        self._console = TextFollower(run.path("console.log"))
        self._last_status: dict[str, Any] = {}

    def start_metrics_near_end(self, window: int) -> int:
        """Have the next polls read metrics.jsonl from its last `window` bytes only; returns the
        byte offset they start at (the caller loads what lies before it, e.g. the TUI's history)."""
        return self._metrics.start_near_end(window)

    def poll(self) -> Update:
        summary = self.run.summary()
        raw = self.run.raw_status
        status = {**raw, **summary, "status": summary["status"], "reason": summary.get("reason") or raw.get("reason")}
        if raw.get("reason") == DELETED and self._last_status:
            # deleted under the viewer: keep what was read (step, loss, elapsed), not step 0
            status = {**self._last_status, "status": "lost", "reason": DELETED, "eta": None}
        elif self.run.path("metrics.jsonl").exists() and self.run.path("status.json").exists():
            self._last_status = status  # not one read while the directory was being removed
        metrics, events, gpu = self._metrics.read(), self._events.read(), self._gpu.read()
        console, c_reset = self._console.read()
        damaged = [f"{name} {bad}" for name, batch in (("metrics.jsonl", metrics), ("events.jsonl", events),
                                                      ("gpu.jsonl", gpu)) for bad in batch.damaged]
        return Update(status, metrics.rows, metrics.reset, events.rows, events.reset, console, c_reset,
                      gpu.rows, damaged)

    def console_path(self) -> Path | None:
        return self.run.path("console.log")

    def console_lines(self) -> list[str]:
        lines = list(self._console.lines)
        return lines + [self._console.partial] if self._console.partial else lines

    def config(self) -> dict[str, Any]:
        try:
            return self.run.config()
        except (OSError, ValueError):
            return {}


def run_of(source: Any) -> Run | None:
    """The workbench run a source reads, or None (another tool's source may have a `run` that is a name)."""
    run = getattr(source, "run", None)
    return run if isinstance(run, Run) else None
