"""The Slurm launcher: `sbatch` a script whose `srun` runs `accelerate launch` on every node."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import LauncherSpec


@hookimpl
def register_launchers() -> list[LauncherSpec]:
    return [LauncherSpec("slurm", "workbench_plugins.launch_slurm.launcher:SlurmLauncher",
                         "sbatch on a Slurm cluster: srun runs accelerate launch on every node")]
