"""The launcher contract: how a run's job command is built (local Accelerate, Slurm, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class LaunchPlan:
    """argv to run (by the supervisor, in the run directory), plus files to write there."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)   # name -> text, e.g. accelerate.yaml


class Launcher(Protocol):
    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        """Build the command that runs `python -m workbench.worker RUN_DIR` on every rank."""
