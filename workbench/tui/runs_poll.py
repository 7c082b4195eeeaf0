"""The run table's data: summaries of every run, cheap enough to refresh twice a second.

`Run.summary()` reads only file tails; for runs in a final state even that is skipped
while their status.json and metrics.jsonl are unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.runs.store import ACTIVE, FINAL, Run, list_runs


@dataclass
class RunsSnapshot:
    """Every run's summary (newest first) and the process info of the active ones."""

    summaries: list[dict[str, Any]]
    active: list[dict[str, Any]]
    """{"id", "pids", "cuda_visible_devices"} per active run (for GPU process mapping)."""


def _stamp(run: Run) -> tuple[int, int, int]:
    out = []
    for name in ("status.json", "metrics.jsonl", "events.jsonl"):
        try:
            st = os.stat(run.path(name))
            out.append(st.st_mtime_ns ^ st.st_size)
        except FileNotFoundError:
            out.append(0)
    return tuple(out)  # type: ignore[return-value]


class RunsPoller:
    """Summaries of a workspace's runs, cached for finished runs whose files did not change."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}

    def poll(self) -> RunsSnapshot:
        runs = list_runs(self.workspace)
        summaries, active = [], []
        seen = set()
        for run in runs:
            seen.add(run.id)
            stamp = _stamp(run)
            cached = self._cache.get(run.id)
            if cached and cached[0] == stamp and cached[1]["status"] in FINAL:
                summaries.append(cached[1])
                continue
            try:
                summary = run.summary()
            except (OSError, ValueError):
                continue  # being created or deleted right now
            self._cache[run.id] = (stamp, summary)
            summaries.append(summary)
            if summary["status"] in ACTIVE:
                st = run.raw_status
                pids = [p for p in [st.get("supervisor_pid"), *(st.get("job_pids") or [])] if p]
                active.append({"id": run.id, "pids": pids, "cuda_visible_devices": st.get("cuda_visible_devices")})
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        summaries.reverse()
        return RunsSnapshot(summaries, active)
