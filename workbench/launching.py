"""The launcher contract: how a run's job is started (local Accelerate, Slurm, ...).

A launcher plugin's `plan(run_dir, config)` returns a `LaunchPlan`. By default the
supervisor runs `argv` as a local child process with `env` added to its environment.
A plan that names `job` hands the job to that class instead (a `JobHandle`): a batch
system, a remote machine. Either way the supervisor owns the run: it records the
status, honours stop requests and writes the final word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class LaunchPlan:
    """argv to run (by the supervisor, in the run directory), plus files to write there."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)   # name -> text, e.g. accelerate.yaml
    job: str | None = None
    """Import path of a JobHandle class; None runs argv as a local child process."""


class Launcher(Protocol):
    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        """Build the command that runs `python -m workbench.worker RUN_DIR` on every rank."""


class JobHandle(Protocol):
    """A job the supervisor does not run as its own child (e.g. a Slurm batch job).

    Constructed as `JobHandle(run, plan, env)`: the Run, the plan as a dict (argv, env,
    job) and the job's full environment (secrets included: never write them to disk).
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
