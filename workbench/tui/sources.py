"""Where a run detail view gets its data: a workbench run directory, or an adapter.

A source is polled about once a second and returns only what is new. `RunDirSource`
reads a run directory incrementally; `workbench.watch.hf.TrainerDirSource` adapts a
Hugging Face Trainer output directory to the same interface, so both use one view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.runs.files import read_json
from workbench.runs.store import Run
from workbench.tui.tail import JsonlTail, TextTail


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


class RunSource(Protocol):
    """What the run detail screen reads."""

    id: str
    title: str
    controllable: bool
    """True when stop/resume/duplicate apply (a workbench run directory)."""

    def poll(self) -> Update: ...

    def console_path(self) -> Path | None: ...

    def config(self) -> dict[str, Any]: ...


class RunDirSource:
    """A workbench run directory, read incrementally."""

    controllable = True

    def __init__(self, run: Run):
        self.run = run
        self.id = run.id
        self.title = run.id
        self._metrics = JsonlTail(run.path("metrics.jsonl"))
        self._events = JsonlTail(run.path("events.jsonl"))
        self._gpu = JsonlTail(run.path("gpu.jsonl"))
        self._console = TextTail(run.path("console.log"))

    def poll(self) -> Update:
        summary = self.run.summary()
        raw = self.run.raw_status
        status = {**raw, **summary, "status": summary["status"], "reason": summary.get("reason") or raw.get("reason")}
        metrics, m_reset = self._metrics.read()
        events, e_reset = self._events.read()
        console, c_reset = self._console.read()
        gpu, _ = self._gpu.read()
        return Update(status, metrics, m_reset, events, e_reset, console, c_reset, gpu)

    def console_path(self) -> Path | None:
        return self.run.path("console.log")

    def console_lines(self) -> list[str]:
        return list(self._console.lines)

    def config(self) -> dict[str, Any]:
        try:
            return self.run.config()
        except (OSError, ValueError):
            return {}


def source_for(path: Path) -> RunSource:
    """A RunDirSource for a workbench run dir, else the Trainer output-dir adapter."""
    path = Path(path).resolve()
    if (path / "status.json").exists() and read_json(path / "status.json") is not None:
        return RunDirSource(Run(path))
    from workbench.watch.hf import TrainerDirSource

    return TrainerDirSource(path)
