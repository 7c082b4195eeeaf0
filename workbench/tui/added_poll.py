"""The Runs table's rows for other tools' runs added to the workspace (`[sources] paths`).

Each added folder is read by the run source that claims it (TensorBoard, trackio,
LLaMA-Factory, Hugging Face Trainer, a plugin's). A poll takes each source's `stamp()`
(a few `stat`s) and calls its `poll()` only when that moved, so an idle table reads no
file; a source that says it is running is polled once a minute anyway, so its row turns
idle when its files stop changing. A folder that is gone or unreadable is a row that says
why, never an exception.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.tui.runs_poll import BestEval

RECHECK_S = 60.0
"""A running (or not yet readable) source is polled at least this often, files changed or not."""
ID_PREFIX = "src:"


def is_added_id(run_id: str | None) -> bool:
    """True for the id of an added source's row (never a workbench run id: those have no ':')."""
    return bool(run_id) and str(run_id).startswith(ID_PREFIX)


@dataclass
class _Entry:
    path: Path
    written: str
    kind: str | None = None
    source: Any = None
    stamp: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    polled_at: float = -math.inf
    created: float | None = None
    existed: bool = False
    best: BestEval = field(default_factory=BestEval)


class AddedRunsPoller:
    """Summaries (shaped like `Run.summary()`, plus `source`, `path`, `read_only`) of the added folders."""

    def __init__(self, workspace: Path, registry: Any = None):
        self.workspace = Path(workspace)
        self.registry = registry
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self.reads = 0
        """Source polls so far (each reads files): the tests' and benchmark's measure of cost."""
        self.error: str | None = None
        """Why the settings could not be read (the rows are then the last good ones)."""

    def poll(self) -> tuple[list[dict[str, Any]], bool]:
        """(summaries in the order added, changed since the previous poll)."""
        from workbench.sources.added import resolve_written
        from workbench.settings import load_settings

        try:
            written = list(load_settings(self.workspace).sources)
            self.error = None
        except WorkbenchError as exc:
            self.error = exc.one_line()
            written = [k[len(ID_PREFIX):] for k in self._order]
        keys = [ID_PREFIX + w for w in dict.fromkeys(written)]
        changed = keys != self._order
        for key in set(self._entries) - set(keys):
            del self._entries[key]
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                written_path = key[len(ID_PREFIX):]
                entry = self._entries[key] = _Entry(resolve_written(self.workspace, written_path), written_path)
            changed |= self._check(key, entry)
        self._order = keys
        return [self._entries[k].summary for k in keys], changed

    def _check(self, key: str, entry: _Entry) -> bool:
        """Poll one source if its files changed; True when its summary changed."""
        from workbench.sources.added import open_added
        from workbench.sources.base import source_stamp

        now = time.monotonic()
        if entry.source is None:
            exists = entry.path.exists()
            if entry.summary and now - entry.polled_at < RECHECK_S and exists == entry.existed:
                return False  # still not readable: try again in a while, or when it appears
            entry.polled_at, entry.existed = now, exists
            try:
                entry.kind, entry.source = open_added(entry.path, self.registry)
            except WorkbenchError as exc:
                return self._set(entry, key, {"status": "missing" if not exists else "unreadable",
                                              "reason": exc.one_line()})
            except Exception as exc:  # noqa: BLE001 - a plugin's source must not take the Runs tab down
                return self._set(entry, key, {"status": "unreadable", "reason": f"{type(exc).__name__}: {exc}"})
            try:
                entry.created = os.stat(entry.path).st_mtime
            except OSError:
                entry.created = None
        try:
            stamp = source_stamp(entry.source, entry.path)
        except Exception:  # noqa: BLE001 - a folder half-deleted: poll() says what is wrong
            stamp = None
        due = entry.summary.get("status") in ("running", "waiting", None) and now - entry.polled_at >= RECHECK_S
        if stamp == entry.stamp and stamp is not None and not due:
            return False
        entry.stamp, entry.polled_at = stamp, now
        try:
            update = entry.source.poll()
        except Exception as exc:  # noqa: BLE001 - shown on the row, polled again when the files change
            return self._set(entry, key, {**entry.summary, "status": "unreadable",
                                          "reason": f"cannot read: {type(exc).__name__}: {exc}"})
        self.reads += 1
        if update.metrics_reset:
            entry.best = BestEval()
        for row in update.metrics:
            entry.best.add(row)
        return self._set(entry, key, dict(update.status))

    def _set(self, entry: _Entry, key: str, status: dict[str, Any]) -> bool:
        name = status.get("id") or getattr(entry.source, "id", None) or entry.path.name
        best = entry.best.headline()
        summary = {**status, "id": key, "name": str(name), "source": entry.kind or "?", "trainer": entry.kind or "?",
                   "path": str(entry.path), "dir": str(entry.path), "written": entry.written, "read_only": True,
                   "created": entry.created, "tags": [], "best_eval": best}
        if summary == entry.summary:
            return False
        entry.summary = summary
        return True
