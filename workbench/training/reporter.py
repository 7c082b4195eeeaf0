"""Writes a run's metrics and events from inside the job (rank 0 only).

At every write it checks that the run's files are still there: a run directory that was
deleted, or a metrics.jsonl / events.jsonl deleted or replaced under the job, is noticed
at the next log instead of the job writing hours of metrics into an unlinked file (or a
ghost run directory reappearing when the next checkpoint is saved).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.runs.files import STOP_REQUEST, read_json
from workbench.secrets import redact_data, secret_values



class RunDirectoryGone(RunError):
    """The run directory was deleted (or replaced) while the job ran: nothing more can be recorded."""


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf become strings so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class RunReporter:
    """Appends to metrics.jsonl / events.jsonl, one flushed line per call.

    Only the process with `is_main` writes; other ranks' calls are no-ops, so
    trainer code can call it unconditionally.
    """

    def __init__(self, run_dir: str | Path, is_main: bool = True):
        self.run_dir = Path(run_dir)
        self.is_main = is_main
        self.files_lost: str | None = None
        """Why the run's files can no longer be trusted (then the job stops at its next step)."""
        self._secrets = secret_values()
        self._dir_ino = os.stat(self.run_dir).st_ino if is_main else None
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if is_main else None
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8") if is_main else None

    def log(self, metrics: dict[str, Any], step: int, epoch: float | None = None, kind: str = "train") -> None:
        """Record one metrics row at `step` (kind: "train" or "eval")."""
        if not self._metrics:
            return
        self.check_files()
        row: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3), "kind": kind}
        if epoch is not None:
            row["epoch"] = round(float(epoch), 6)
        row.update({k: _clean(v) for k, v in metrics.items()})
        if self.files_lost is None:
            self._metrics.write(json.dumps(row) + "\n")
            self._metrics.flush()

    def event(self, name: str, /, **data: Any) -> None:
        """Record an event: checkpoint, nan, oom, stop_requested, resumed, error, ... (secrets redacted)."""
        if not self._events:
            return
        row = {"time": round(time.time(), 3), "event": name, **{k: _clean(v) for k, v in data.items()}}
        self._events.write(json.dumps(redact_data(row, self._secrets)) + "\n")
        self._events.flush()

    def checkpoint_saved(self, path: str | Path, step: int) -> None:
        """Seal a checkpoint every rank has finished writing, and record it (call on rank 0)."""
        if not self.is_main:
            return
        from workbench.runs.checkpoints import seal

        seal(Path(path), step)
        self.event("checkpoint", step=int(step), path=Path(path).name)

    def check_files(self) -> None:
        """Notice the run's files vanishing: a deleted run directory ends the job at once
        (RunDirectoryGone); a deleted metrics/events file makes the job stop at its next
        step, after a checkpoint, with an event saying why."""
        if not self.is_main or self.files_lost is not None:
            return
        try:
            gone = os.stat(self.run_dir).st_ino != self._dir_ino
        except OSError:
            gone = True
        if gone:
            self.files_lost = "the run directory was deleted"
            raise RunDirectoryGone(self.files_lost + " while the job ran; it stopped without saving",
                                   where=str(self.run_dir))
        for name, f in (("metrics.jsonl", self._metrics), ("events.jsonl", self._events)):
            if f is not None and os.fstat(f.fileno()).st_nlink == 0:
                self.files_lost = f"{name} was deleted during the run"
        if self.files_lost:
            if os.fstat(self._events.fileno()).st_nlink == 0:  # recreate it for this last word
                self._events.close()
                self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
            self.event("run_files_lost", reason=self.files_lost, action="stopping after a checkpoint")

    def stop_requested(self) -> bool:
        """True once a graceful stop was asked for (`workbench stop`, the TUI), or the run's files were lost."""
        if self.files_lost is not None:
            return True
        path = self.run_dir / STOP_REQUEST
        if not os.path.exists(path):
            return False
        # A `stop --now` request is the supervisor's to carry out (it kills the job): stopping here
        # at a step boundary would save a checkpoint the user asked to skip.
        return not (read_json(path) or {}).get("now")

    def close(self) -> None:
        for f in (self._metrics, self._events):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
