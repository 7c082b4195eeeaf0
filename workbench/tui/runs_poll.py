"""The run table's data: summaries of every run, cheap enough to refresh twice a second.

One `scandir` of runs/ and two `stat`s per run per poll; a run's files are read only
when their size or mtime changed (or, for an active run, to keep its clock and
liveness current). With 1,000 finished runs an idle poll reads no file at all. The
best eval metric of each run is kept incrementally: only the bytes metrics.jsonl
gained since the last poll are scanned, and only lines holding an eval metric parsed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.paths import runs_dir
from workbench.runs.store import ACTIVE, Run

BEST_SCAN_BYTES = 8 << 20
"""Most bytes of one run's metrics.jsonl scanned for eval metrics per poll."""
HIGHER_IS_BETTER = ("accuracy", "acc", "reward", "score", "f1", "exact_match", "rouge", "bleu", "win_rate")


@dataclass
class RunsSnapshot:
    """Every run's summary (newest first) and the process info of the active ones."""

    summaries: list[dict[str, Any]]
    active: list[dict[str, Any]]
    """{"id", "pids", "cuda_visible_devices"} per active run (for GPU process mapping)."""
    changed: bool = True
    """False when no summary differs from the previous poll's (the view has nothing to do)."""


def higher_is_better(metric: str) -> bool:
    name = metric.removeprefix("eval_").lower()
    return any(word in name for word in HIGHER_IS_BETTER)


@dataclass
class BestEval:
    """The best value of each eval metric seen so far in one metrics.jsonl."""

    offset: int = 0
    inode: int = 0
    best: dict[str, float] = field(default_factory=dict)

    def scan(self, path: Path, size: int, inode: int) -> None:
        if inode != self.inode or size < self.offset:
            self.offset, self.inode, self.best = 0, inode, {}
        if size == self.offset:
            return
        try:
            with open(path, "rb") as f:
                f.seek(self.offset)
                data = f.read(min(size - self.offset, BEST_SCAN_BYTES))
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        if b'"eval_' not in data:
            return
        for line in data[:end].split(b"\n"):
            if b'"eval_' not in line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            for key, value in row.items():
                if key.startswith("eval_") and isinstance(value, (int, float)) and not isinstance(value, bool) \
                        and math.isfinite(value) and key not in ("eval_runtime", "eval_samples_per_second",
                                                                 "eval_steps_per_second"):
                    old = self.best.get(key)
                    better = old is None or (value > old if higher_is_better(key) else value < old)
                    if better:
                        self.best[key] = float(value)

    def headline(self) -> tuple[str, float] | None:
        """eval_loss when logged, else the first eval metric by name."""
        if not self.best:
            return None
        key = "eval_loss" if "eval_loss" in self.best else sorted(self.best)[0]
        return key, self.best[key]


@dataclass
class _Cached:
    stamp: tuple[int, ...]
    summary: dict[str, Any]
    best: BestEval
    tags: list[str] | None = None


def _stamp(run_dir: str) -> tuple[int, ...] | None:
    out: list[int] = []
    for name in ("status.json", "metrics.jsonl"):
        try:
            st = os.stat(os.path.join(run_dir, name))
        except FileNotFoundError:
            if name == "status.json":
                return None
            out += [0, 0, 0]
            continue
        out += [st.st_mtime_ns, st.st_size, st.st_ino]
    return tuple(out)


def _tags(run: Run) -> list[str]:
    """run.tags of the frozen job.toml (read once per run: job.toml never changes)."""
    try:
        tags = run.config().get("run", {}).get("tags") or []
    except (OSError, ValueError):
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]


class RunsPoller:
    """Summaries of a workspace's runs, re-read only when a run's files changed."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self._cache: dict[str, _Cached] = {}
        self.reads = 0
        """Summaries computed (files read) so far: the benchmark's and tests' measure of cost."""

    def _entries(self) -> list[tuple[str, str]]:
        root = runs_dir(self.workspace)
        try:
            with os.scandir(root) as it:
                return [(e.name, e.path) for e in it if not e.name.startswith(".") and e.is_dir()]
        except FileNotFoundError:
            return []

    def poll(self) -> RunsSnapshot:
        summaries, active = [], []
        seen = set()
        changed = False
        for rid, path in self._entries():
            stamp = _stamp(path)
            if stamp is None:
                continue
            seen.add(rid)
            cached = self._cache.get(rid)
            if cached is not None and cached.stamp == stamp and cached.summary["status"] not in ACTIVE:
                summaries.append(cached.summary)
                continue
            run = Run(Path(path))
            try:
                summary = run.summary()
            except (OSError, ValueError):
                continue  # being created or deleted right now
            self.reads += 1
            if cached is None:
                cached = _Cached(stamp, summary, BestEval(), _tags(run))
                self._cache[rid] = cached
            cached.best.scan(run.path("metrics.jsonl"), stamp[4], stamp[5])
            summary["best_eval"] = cached.best.headline()
            summary["tags"] = cached.tags or []
            if summary != cached.summary or cached.stamp != stamp:
                changed = True
            else:
                summary = cached.summary  # same object: the table skips it
            cached.stamp, cached.summary = stamp, summary
            summaries.append(summary)
            if summary["status"] in ACTIVE:
                st = run.raw_status
                pids = [p for p in [st.get("supervisor_pid"), *(st.get("job_pids") or [])] if p]
                active.append({"id": rid, "pids": pids, "cuda_visible_devices": st.get("cuda_visible_devices")})
        gone = set(self._cache) - seen
        for rid in gone:
            del self._cache[rid]
        changed = changed or bool(gone) or len(summaries) != getattr(self, "_last_count", -1)
        self._last_count = len(summaries)
        summaries.sort(key=lambda s: (s.get("created") or 0, s["id"]), reverse=True)
        return RunsSnapshot(summaries, active, changed)
