"""Writes a run's metrics and events from inside the job (rank 0 only)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

STOP_REQUEST = "stop.request"


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
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if is_main else None
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8") if is_main else None

    def log(self, metrics: dict[str, Any], step: int, epoch: float | None = None, kind: str = "train") -> None:
        """Record one metrics row at `step` (kind: "train" or "eval")."""
        if not self._metrics:
            return
        row: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3), "kind": kind}
        if epoch is not None:
            row["epoch"] = round(float(epoch), 6)
        row.update({k: _clean(v) for k, v in metrics.items()})
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()

    def event(self, name: str, /, **data: Any) -> None:
        """Record an event: checkpoint, nan, oom, stop_requested, resumed, error, ..."""
        if not self._events:
            return
        row = {"time": round(time.time(), 3), "event": name, **{k: _clean(v) for k, v in data.items()}}
        self._events.write(json.dumps(row) + "\n")
        self._events.flush()

    def stop_requested(self) -> bool:
        """True once a graceful stop was asked for (by `workbench stop` or the TUI)."""
        return os.path.exists(self.run_dir / STOP_REQUEST)

    def close(self) -> None:
        for f in (self._metrics, self._events):
            if f:
                f.close()
