"""The local launcher: `accelerate launch` on this machine, one process per GPU (or CPU DDP)."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import LauncherSpec


@hookimpl
def register_launchers() -> list[LauncherSpec]:
    return [LauncherSpec("local", "workbench_plugins.launch_local.launcher:LocalLauncher",
                         "accelerate launch on this machine")]
