"""What a run viewer reads: the `RunSource` interface and the `Update` it returns.

A source is polled about once a second and returns only what is new since the previous
poll. The workbench's own run directories, a Hugging Face Trainer output folder and
other tools' logs are all sources, so `watch`, the CLI and the TUI show them alike.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Hashable, Iterable, Protocol


@dataclass
class Update:
    """New data since the previous poll; a *_reset flag means: drop what you had first."""

    status: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    metrics_reset: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    events_reset: bool = False
    console: list[str] = field(default_factory=list)
    console_reset: bool = False
    gpu: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    """Lines found damaged in this poll, as 'metrics.jsonl line 7: invalid JSON (...)'."""


class RunSource(Protocol):
    """What the run detail screen reads.

    A source may also have `stamp() -> Hashable`: a few `stat`s that change whenever
    `poll()` could return something new. The Runs tab polls a source only when its stamp
    moved (`source_stamp` falls back to the folder's own stat for sources without one).
    """

    id: str
    title: str
    controllable: bool
    """True when stop/resume/duplicate apply (a workbench run directory)."""

    def poll(self) -> Update: ...

    def console_path(self) -> Path | None: ...

    def console_lines(self) -> list[str]: ...

    def config(self) -> dict[str, Any]: ...


ACTIVE_WINDOW_S = 300.0
"""A read-only source whose files changed this recently counts as `running`, else `idle`."""


class ReadOnlySource:
    """Defaults of a source the workbench only reads (another tool's logs): no controls, console or config."""

    controllable = False
    id: str
    dir: Path

    def console_path(self) -> Path | None:
        return None

    def console_lines(self) -> list[str]:
        return []

    def config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def activity(last_change: float) -> str:
        """`running` when the files changed within ACTIVE_WINDOW_S, else `idle`."""
        return "running" if time.time() - last_change < ACTIVE_WINDOW_S else "idle"

    def summary(self, status: str, trainer: str, **fields: Any) -> dict[str, Any]:
        """A status dict shaped like `Run.summary()`: the given fields over empty defaults."""
        return {"id": self.id, "dir": str(self.dir), "status": status, "trainer": trainer, "step": 0,
                "max_steps": None, "loss": None, "epoch": None, "elapsed": None, "eta": None,
                "exit_code": None, "signal": None, "reason": None, **fields}


def stat_stamp(paths: Iterable[Path]) -> tuple:
    """(path, mtime_ns, size, inode) of each path that exists: what a source's `stamp()` returns."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def source_stamp(source: Any, path: Path) -> Hashable:
    """The source's own `stamp()`, else the stat of `path` and of the files right inside it."""
    stamp = getattr(source, "stamp", None)
    if callable(stamp):
        return stamp()
    path = Path(path)
    try:
        inside = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    except OSError:
        inside = []
    return stat_stamp([path, *inside])
