"""The Slurm launcher: a run's slurm.sbatch, submitted and watched by `SlurmJob`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from workbench.launching import LaunchPlan
from workbench.launching.accelerate_config import ACCELERATE_YAML, launch_files

from workbench_plugins.launch_slurm.options import check_slurm
from workbench_plugins.launch_slurm.sbatch import render

SCRIPT = "slurm.sbatch"
JOB_HANDLE = "workbench_plugins.launch_slurm.job:SlurmJob"


def accelerate_binary() -> str:
    here = Path(sys.executable).parent / "accelerate"
    return str(here) if here.exists() else (shutil.which("accelerate") or "accelerate")


class SlurmLauncher:
    """`sbatch slurm.sbatch`; the job's srun starts `accelerate launch` on every node."""

    def check(self, config: dict, where) -> None:
        check_slurm(config, where)

    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        slurm = config["launch"].get("slurm") or check_slurm(config, lambda key: key)
        # The main port comes from the job id in slurm.sbatch; the YAML's is overridden there.
        files = launch_files(config, run_dir, port=29500)
        files[SCRIPT] = render(run_dir, slurm, accelerate_binary(), run_dir / ACCELERATE_YAML)
        env = {str(k): str(v) for k, v in config["launch"]["env"].items()}
        return LaunchPlan(argv=["sbatch", "--parsable", str(run_dir / SCRIPT)], env=env, files=files, job=JOB_HANDLE)
