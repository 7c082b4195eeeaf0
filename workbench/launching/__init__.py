"""The launcher contract: how a run's job is started (local Accelerate, Slurm, ...).

A launcher plugin registers a class (`LauncherSpec.factory`) whose instances build a
`LaunchPlan` for a run directory. Helpers every launcher shares live next to it:
`workbench.launching.accelerate_config` (the run's accelerate.yaml and DeepSpeed JSON)
and `workbench.launching.direct` (one process without `accelerate launch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class LaunchPlan:
    """What the supervisor runs for a run: argv and env (in the run directory), plus files to write there.

    job: "module:Class" of a JobHandle the supervisor uses instead of a local subprocess
    (e.g. a Slurm batch job); None runs argv as a local process group.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)   # name -> text, e.g. accelerate.yaml
    job: str | None = None


class Launcher(Protocol):
    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        """Build the command that runs `python -m workbench.worker RUN_DIR` on every rank.

        A launcher may also define `check(config, where) -> None`, called by the config loader
        before launch: it raises ConfigError for options it rejects (`where(keypath)` is file:line).
        """


class JobHandle(Protocol):
    """A job the supervisor does not run as its own child (e.g. a Slurm batch job).

    Constructed as `JobHandle(run, plan, env)`: the Run, its LaunchPlan and the job's full
    environment (secrets included: never write them to disk). It may also define
    `attached() -> bool`: True when the job recorded in status.json still lives, so that a
    new supervisor (after one died) watches it instead of starting another.
    """

    def start(self) -> dict[str, Any]:
        """Submit or start the job; returns status fields to record (e.g. {"slurm_job_id": "42"})."""

    def poll(self) -> dict[str, Any] | None:
        """None while the job lives; once it has ended, its fate:
        {"status": completed|failed|stopped, "exit_code": int|None, "signal": str|None, "reason": str|None}."""

    def live(self) -> dict[str, Any]:
        """Status fields to merge while the job lives (e.g. {"status": "queued", "queue_reason": "Resources"})."""

    def stop(self, now: bool) -> None:
        """Ask the job to end: gracefully (every rank checkpoints) or, with now, at once."""
