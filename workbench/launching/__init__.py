"""The launcher contract: how a run's job is started (local Accelerate, Slurm, ...).

A launcher plugin registers a class (`LauncherSpec.factory`) whose instances build a
`LaunchPlan` for a run directory. Helpers every launcher shares live next to it:
`workbench.launching.accelerate_config` (the run's accelerate.yaml and DeepSpeed JSON)
and `workbench.launching.direct` (one process without `accelerate launch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


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
