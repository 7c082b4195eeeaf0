"""The local launcher: the run's accelerate.yaml, then `accelerate launch` (or the worker directly).

One process on one machine runs `python -m workbench.worker RUN_DIR` with the environment
`accelerate launch` would have set (no launcher process, ~2 s less per run); everything else
goes through `accelerate launch --config_file accelerate.yaml`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from workbench.errors import ConfigError
from workbench.launching import LaunchPlan
from workbench.launching.accelerate_config import ACCELERATE_YAML, launch_files
from workbench.launching.direct import can_run_direct, direct_argv, direct_env


def accelerate_binary() -> str:
    """The `accelerate` next to this interpreter (same environment), else the one on PATH."""
    here = Path(sys.executable).parent / "accelerate"
    return str(here) if here.exists() else (shutil.which("accelerate") or "accelerate")


def accelerate_launch_argv(run_dir: Path, config: dict) -> list[str]:
    return [accelerate_binary(), "launch", "--config_file", str(run_dir / ACCELERATE_YAML),
            *config["launch"]["accelerate_args"], "-m", "workbench.worker", str(run_dir)]


class LocalLauncher:
    """Runs the worker on this machine: directly for one process, else under `accelerate launch`."""

    def check(self, config: dict, where) -> None:
        launch = config["launch"]
        if launch["num_machines"] > 1 and not launch.get("main_process_ip"):
            raise ConfigError(f"launch.num_machines = {launch['num_machines']} needs launch.main_process_ip "
                              "(the address of machine 0 that every machine can reach)",
                              where=where("launch.num_machines"))

    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        files = launch_files(config, run_dir)
        user_env = {str(k): str(v) for k, v in config["launch"]["env"].items()}
        if can_run_direct(config["launch"]):
            import yaml

            # From the environment the job starts in (launch.env included), as `accelerate launch` reads it.
            env = {**user_env, **direct_env(yaml.safe_load(files[ACCELERATE_YAML]), {**os.environ, **user_env})}
            return LaunchPlan(argv=direct_argv(run_dir), env=env, files=files)
        return LaunchPlan(argv=accelerate_launch_argv(run_dir, config), env=user_env, files=files)
