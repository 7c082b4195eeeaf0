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

from workbench.evaluation.settings import lower_is_better
from workbench.paths import runs_dir
from workbench.runs.store import ACTIVE, Run

BEST_SCAN_BYTES = 8 << 20
"""Most bytes of one run's metrics.jsonl scanned for eval metrics per poll."""


@dataclass
class RunsSnapshot:
    """Every run's summary (newest first) and the process info of the active ones."""

    summaries: list[dict[str, Any]]
    active: list[dict[str, Any]]
    """{"id", "pids", "cuda_visible_devices"} per active run (for GPU process mapping)."""
    changed: bool = True
    """False when no summary differs from the previous poll's (the view has nothing to do)."""


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
            if isinstance(row, dict):
                self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        """Take the eval metrics of one metric row."""
        for key, value in row.items():
            if key.startswith("eval_") and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value) and key not in ("eval_runtime", "eval_samples_per_second",
                                                             "eval_steps_per_second"):
                old = self.best.get(key)
                better = old is None or (value < old if lower_is_better(key) else value > old)
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
    """Summaries of a workspace's runs, re-read only when a run's files changed.

    runs/ is listed again only when its mtime moved (a run created, renamed into place
    or removed). Active runs are checked every poll; finished ones at most
    `finished_budget` per poll, in turn, so 1,000 idle runs cost a few hundred `stat`s.
    """

    def __init__(self, workspace: Path, finished_budget: int = 50):
        self.workspace = workspace
        self.finished_budget = finished_budget
        self._cache: dict[str, _Cached] = {}
        self._entries: list[tuple[str, str]] = []
        self._root_mtime: int | None = None
        self._turn = 0
        self._finished: list[tuple[str, str]] | None = None
        self._last_entries: list[tuple[str, str]] | None = None
        self._last: RunsSnapshot | None = None
        self.reads = 0
        """Summaries computed (files read) so far: the benchmark's and tests' measure of cost."""

    def _list(self) -> list[tuple[str, str]]:
        root = runs_dir(self.workspace)
        try:
            mtime = os.stat(root).st_mtime_ns
        except FileNotFoundError:
            self._root_mtime, self._entries = None, []
            return []
        if mtime != self._root_mtime:
            try:
                with os.scandir(root) as it:
                    self._entries = sorted((e.name, e.path) for e in it if not e.name.startswith(".") and e.is_dir())
            except FileNotFoundError:
                self._entries = []
            self._root_mtime = mtime
        return self._entries

    def _to_check(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Every active or new run, and the finished runs whose turn it is."""
        if self._finished is None:
            self._finished = [(rid, path) for rid, path in entries
                              if rid in self._cache and self._cache[rid].summary["status"] not in ACTIVE]
        finished = self._finished
        done = {rid for rid, _ in finished}
        check = [(rid, path) for rid, path in entries if rid not in done]
        if len(finished) <= self.finished_budget:
            return check + finished
        start = self._turn % len(finished)
        turn = finished[start:start + self.finished_budget]
        turn += finished[: self.finished_budget - len(turn)]
        self._turn = start + self.finished_budget
        return check + turn

    def poll(self) -> RunsSnapshot:
        entries = self._list()
        changed = entries is not self._last_entries
        if changed:
            self._finished = None
        self._last_entries = entries
        active = []
        for rid, path in self._to_check(entries):
            cached = self._cache.get(rid)
            stamp = _stamp(path)
            if stamp is None:
                if cached is not None:
                    del self._cache[rid]
                    changed = True
                continue
            if cached is not None and cached.stamp == stamp and cached.summary["status"] not in ACTIVE:
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
                changed = True
            cached.best.scan(run.path("metrics.jsonl"), stamp[4], stamp[5])
            summary["best_eval"] = cached.best.headline()
            summary["tags"] = cached.tags or []
            if summary != cached.summary or cached.stamp != stamp:
                if (summary["status"] in ACTIVE) != (cached.summary["status"] in ACTIVE):
                    self._finished = None  # a run started or ended: the turns change
                changed = True
            else:
                summary = cached.summary  # same object: the table skips it
            cached.stamp, cached.summary = stamp, summary
            if summary["status"] in ACTIVE:
                st = run.raw_status
                pids = [p for p in [st.get("supervisor_pid"), *(st.get("job_pids") or [])] if p]
                active.append({"id": rid, "pids": pids, "cuda_visible_devices": st.get("cuda_visible_devices")})
        if not changed and self._last is not None:
            return RunsSnapshot(self._last.summaries, active, False)
        self._finished = None  # runs came, went, started or ended: recount whose turn it is
        names = {rid for rid, _ in entries}
        for gone in set(self._cache) - names:
            del self._cache[gone]
        summaries = [c.summary for rid, _ in entries if (c := self._cache.get(rid)) is not None]
        summaries.sort(key=lambda s: (s.get("created") or 0, s["id"]), reverse=True)
        self._last = RunsSnapshot(summaries, active, True)
        return self._last
