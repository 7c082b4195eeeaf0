"""The plugin contract of Workbench (pluggy project name "workbench").

Plugins are modules (or objects) exposing functions marked with `hookimpl` and
registered under the `workbench` entry-point group:

    [project.entry-points.workbench]
    my_plugin = "my_package.plugin"

Every hook is optional. Register hooks return lists of the frozen spec objects of
`workbench.specs`; they must be cheap (no torch/TRL imports at module level).
"""

from __future__ import annotations

import pluggy

from workbench.specs import (
    DataFormat,
    EvaluatorSpec,
    LauncherSpec,
    PresetSpec,
    RewardFunctionSpec,
    RunInfo,
    RunSourceSpec,
    TrainerSpec,
)

PROJECT = "workbench"
# Bumped when a hook changes incompatibly; plugins may check it.
HOOKSPEC_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_trainers() -> list[TrainerSpec]:
    """Trainers this plugin offers (name, data kinds, config class, factory)."""


@hookspec
def register_data_formats() -> list[DataFormat]:
    """Raw data formats this plugin can detect and convert to a canonical kind."""


@hookspec
def register_evaluators() -> list[EvaluatorSpec]:
    """Evaluators that score a trained model."""


@hookspec
def register_launchers() -> list[LauncherSpec]:
    """Ways to start a job (local Accelerate, Slurm, ...)."""


@hookspec
def register_reward_functions() -> list[RewardFunctionSpec]:
    """Named reward functions for RL trainers (GRPO, PPO)."""


@hookspec
def register_presets() -> list[PresetSpec]:
    """Ready job configs offered by `workbench new` and the Configs panel."""


@hookspec
def register_run_sources() -> list[RunSourceSpec]:
    """Readers of other tools' run output, for `workbench watch` and the TUI (read-only runs)."""


@hookspec
def register_tui_commands() -> list:
    """Extra command-palette entries: (title, help, callable(app)) tuples."""


@hookspec
def run_finished(run: RunInfo) -> None:
    """Called by the supervisor when a run ends, whatever its status (notifications)."""
